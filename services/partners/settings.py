from shared.settings import ServiceSettings


class PartnersSettings(ServiceSettings):
    service_name = "partners"
    port: int = 8001
