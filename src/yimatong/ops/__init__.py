"""Operations: backup and restore, the configuration check, the collector of leftover files (docs/DEPLOY.md)."""
