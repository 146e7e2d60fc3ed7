# Sync runs and JOS call records arrive with the platform-sync issue.
