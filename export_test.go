package issuer

// MigrateTo applies migs as Migrate applies schema.sql's, for the upgrade
// test: a database at an earlier version.
var MigrateTo = migrate
