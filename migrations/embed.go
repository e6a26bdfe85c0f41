// Package migrations holds Pulse's versioned SQL schema, one directory per
// engine, embedded in the binary. File names follow bun/migrate:
// <UTC timestamp>_<name>.tx.up.sql and .tx.down.sql (".tx." runs the file in
// a transaction). Every migration exists for both engines under the same name.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite returns the SQLite migrations.
func SQLite() fs.FS { return sub("sqlite") }

// Postgres returns the PostgreSQL migrations.
func Postgres() fs.FS { return sub("postgres") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the directories are embedded above; this cannot fail
	}
	return f
}
