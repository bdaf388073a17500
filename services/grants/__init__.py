"""EU funding calls, the application pipeline and deadline reminders."""
