#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Unique(db.constraint().unwrap_or_default().to_owned());
        }
        StoreError::Db(e)
    }
}

impl StoreError {
    pub fn is_unique(&self) -> bool {
        matches!(self, StoreError::Unique(_))
    }
}
