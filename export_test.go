package issuer

// For the upgrade tests: the migrations of another schema file, applied
// as Migrate applies schema.sql's.
var (
	ParseMigrations = parseMigrations
	MigrateTo       = migrate
)
