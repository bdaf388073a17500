from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    service_name = "notifications"
    port: int = 8004
