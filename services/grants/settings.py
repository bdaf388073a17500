from shared.settings import ServiceSettings


class GrantsSettings(ServiceSettings):
    service_name = "grants"
    port: int = 8003
