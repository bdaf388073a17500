from shared.settings import ServiceSettings


class TravelSettings(ServiceSettings):
    service_name = "travel"
    port: int = 8002
