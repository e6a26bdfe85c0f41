package db_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// The migration parity test migrates a fresh SQLite database and a fresh
// PostgreSQL schema and checks that the two trees under migrations/ define
// the same schema: tables, columns (name, nullability, whether a default
// exists), primary keys, foreign keys, unique constraints, indexes (name,
// columns, uniqueness, whether partial) and the number of CHECK constraints
// per table. Column types are ignored: they differ by design (TIMESTAMP vs
// TIMESTAMPTZ, BLOB vs BYTEA, ...).
//
// Each engine's schema is flattened into a set of "facts", one readable line
// each; the test fails listing every fact found on one engine only.

// parityExcluded names tables left out of the comparison, with the reason.
var parityExcluded = map[string]string{
	// River migrates its own tables (internal/platform/queue), not through
	// migrations/; its two engines' schemas are River's business.
	"river_*": "River's own tables, migrated by River",
	// PostgreSQL only by design: the events bus's replay window for its
	// LISTEN/NOTIFY transport (events.Postgres, cluster mode without Redis).
	// SQLite's bus is in-process and keeps no rows.
	"pulse_events": "PostgreSQL-only replay window of the NOTIFY events bus",
}

// parityAllowed lists facts known to differ between the engines, each with
// the reason it is accepted. Keep it empty unless a difference is by design.
var parityAllowed = map[string]string{}

type parityBundle struct {
	ctx    context.Context
	sqlite *db.DB
	pg     *db.DB
}

func setupParity(t *testing.T) *parityBundle {
	t.Helper()
	if !slices.Contains(dbtest.Engines(), config.Postgres) {
		t.Skipf("%s is not set: parity needs both engines", dbtest.EnvPostgres)
	}
	return &parityBundle{
		ctx:    context.Background(),
		sqlite: dbtest.Open(t, config.SQLite),
		pg:     dbtest.Open(t, config.Postgres),
	}
}

func TestMigrationParity(t *testing.T) {
	t.Parallel()
	b := setupParity(t)

	lite := sqliteFacts(t, b.ctx, b.sqlite)
	pg := postgresFacts(t, b.ctx, b.pg)
	require.NotEmpty(t, lite)
	require.Contains(t, lite, "table pulse_kv", "the introspection must see the schema")

	// An exclusion of a table that no longer exists would hide a future one.
	for name := range parityExcluded {
		if strings.HasSuffix(name, "*") {
			continue
		}
		var n int
		require.NoError(t, b.sqlite.R.NewRaw("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", name).Scan(b.ctx, &n))
		var m int
		require.NoError(t, b.pg.R.NewRaw(`SELECT count(*) FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name = ?`, name).Scan(b.ctx, &m))
		require.Positive(t, n+m, "parityExcluded names %s, which neither engine has: remove it", name)
	}

	if diff := parityDiff(lite, pg); diff != "" {
		t.Fatalf("migrations/sqlite and migrations/postgres define different schemas "+
			"(add a migration pair that fixes it, or a commented parityAllowed entry):\n%s", diff)
	}
}

// TestMigrationParityDetectsADifference shows the comparison can fail: an
// index dropped on one engine only is reported.
func TestMigrationParityDetectsADifference(t *testing.T) {
	t.Parallel()
	b := setupParity(t)

	_, err := b.sqlite.W.ExecContext(b.ctx, "DROP INDEX users_email")
	require.NoError(t, err)
	_, err = b.pg.W.ExecContext(b.ctx, "ALTER TABLE users ALTER COLUMN name DROP NOT NULL")
	require.NoError(t, err)

	diff := parityDiff(sqliteFacts(t, b.ctx, b.sqlite), postgresFacts(t, b.ctx, b.pg))
	require.Contains(t, diff, "index users.users_email (email) unique")
	require.Contains(t, diff, "column users.name not null, default")
	require.Contains(t, diff, "column users.name null, default")
}

// parityDiff returns every fact found on one engine only, not allowed, as
// one line each, or "".
func parityDiff(lite, pg []string) string {
	var out []string
	for _, f := range lite {
		if _, ok := parityAllowed[f]; !ok && !slices.Contains(pg, f) {
			out = append(out, "  only in sqlite:   "+f)
		}
	}
	for _, f := range pg {
		if _, ok := parityAllowed[f]; !ok && !slices.Contains(lite, f) {
			out = append(out, "  only in postgres: "+f)
		}
	}
	return strings.Join(out, "\n")
}

func parityTableExcluded(name string) bool {
	for pattern := range parityExcluded {
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasPrefix(name, prefix) || name == pattern {
			return true
		}
	}
	return false
}

func nullity(notNull bool) string {
	if notNull {
		return "not null"
	}
	return "null"
}

func defaulted(has bool) string {
	if has {
		return "default"
	}
	return "no default"
}

func indexFact(table, name string, cols []string, unique, partial bool) string {
	f := fmt.Sprintf("index %s.%s (%s)", table, name, strings.Join(cols, ", "))
	if unique {
		f += " unique"
	}
	if partial {
		f += " partial"
	}
	return f
}

func fkFact(table string, cols []string, ref string, refCols []string, onDelete string) string {
	return fmt.Sprintf("foreign key %s (%s) -> %s (%s) on delete %s",
		table, strings.Join(cols, ", "), ref, strings.Join(refCols, ", "), strings.ToLower(onDelete))
}

// checkRE finds CHECK constraints in a table's CREATE statement; SQLite has
// no catalogue of them.
var checkRE = regexp.MustCompile(`(?i)\bCHECK\s*\(`)

func sqliteFacts(t *testing.T, ctx context.Context, d *db.DB) []string {
	t.Helper()
	var tables []struct {
		Name string `bun:"name"`
		SQL  string `bun:"sql"`
	}
	require.NoError(t, d.R.NewRaw(
		"SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").Scan(ctx, &tables))

	var facts []string
	for _, tb := range tables {
		if parityTableExcluded(tb.Name) {
			continue
		}
		facts = append(facts, "table "+tb.Name)

		var cols []struct {
			Name    string `bun:"name"`
			Type    string `bun:"type"`
			NotNull bool   `bun:"not_null"`
			Default bool   `bun:"dflt"`
			PK      int    `bun:"pk"`
		}
		require.NoError(t, d.R.NewRaw(
			`SELECT name, type, "notnull" AS not_null, dflt_value IS NOT NULL AS dflt, pk
			 FROM pragma_table_info(?) ORDER BY cid`, tb.Name).Scan(ctx, &cols))
		pkCols := 0
		for _, c := range cols {
			if c.PK > 0 {
				pkCols++
			}
		}
		pk := map[int]string{}
		for _, c := range cols {
			// A sole INTEGER PRIMARY KEY is the rowid: SQLite assigns it, as
			// a serial or identity column's default does on PostgreSQL.
			if pkCols == 1 && c.PK == 1 && strings.EqualFold(c.Type, "INTEGER") {
				c.Default = true
			}
			// A primary key column is NOT NULL on PostgreSQL whatever it says;
			// on SQLite only by declaration, which the engines treat alike
			// for Pulse's keys (always given by the application).
			notNull := c.NotNull || c.PK > 0
			facts = append(facts, fmt.Sprintf("column %s.%s %s, %s", tb.Name, c.Name, nullity(notNull), defaulted(c.Default)))
			if c.PK > 0 {
				pk[c.PK] = c.Name
			}
		}
		if len(pk) > 0 {
			var names []string
			for i := 1; i <= len(pk); i++ {
				names = append(names, pk[i])
			}
			facts = append(facts, fmt.Sprintf("primary key %s (%s)", tb.Name, strings.Join(names, ", ")))
		}

		var idx []struct {
			Name    string `bun:"name"`
			Unique  bool   `bun:"unique"`
			Origin  string `bun:"origin"`
			Partial bool   `bun:"partial"`
		}
		require.NoError(t, d.R.NewRaw(
			`SELECT name, "unique", origin, partial FROM pragma_index_list(?) ORDER BY name`, tb.Name).Scan(ctx, &idx))
		for _, ix := range idx {
			var icols []struct {
				Name *string `bun:"name"`
			}
			require.NoError(t, d.R.NewRaw(
				"SELECT name FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", ix.Name).Scan(ctx, &icols))
			var names []string
			for _, c := range icols {
				if c.Name == nil {
					names = append(names, "<expr>")
				} else {
					names = append(names, *c.Name)
				}
			}
			switch ix.Origin {
			case "pk": // reported as the primary key
			case "u":
				facts = append(facts, fmt.Sprintf("unique %s (%s)", tb.Name, strings.Join(names, ", ")))
			default:
				facts = append(facts, indexFact(tb.Name, ix.Name, names, ix.Unique, ix.Partial))
			}
		}

		var fks []struct {
			ID       int     `bun:"id"`
			Table    string  `bun:"table"`
			From     string  `bun:"from"`
			To       *string `bun:"to"`
			OnDelete string  `bun:"on_delete"`
		}
		require.NoError(t, d.R.NewRaw(
			`SELECT id, "table", "from", "to", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq`, tb.Name).Scan(ctx, &fks))
		for i := 0; i < len(fks); {
			j := i
			var from, to []string
			for ; j < len(fks) && fks[j].ID == fks[i].ID; j++ {
				from = append(from, fks[j].From)
				if fks[j].To != nil {
					to = append(to, *fks[j].To)
				}
			}
			if len(to) == 0 { // REFERENCES t with no columns means t's primary key
				require.NoError(t, d.R.NewRaw(
					"SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", fks[i].Table).Scan(ctx, &to))
			}
			facts = append(facts, fkFact(tb.Name, from, fks[i].Table, to, fks[i].OnDelete))
			i = j
		}

		if n := len(checkRE.FindAllString(tb.SQL, -1)); n > 0 {
			facts = append(facts, fmt.Sprintf("checks %s: %d", tb.Name, n))
		}
	}
	slices.Sort(facts)
	return facts
}

func postgresFacts(t *testing.T, ctx context.Context, d *db.DB) []string {
	t.Helper()
	var tables []string
	require.NoError(t, d.R.NewRaw(
		`SELECT table_name FROM information_schema.tables
		 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`).Scan(ctx, &tables))

	var facts []string
	for _, tb := range tables {
		if parityTableExcluded(tb) {
			continue
		}
		facts = append(facts, "table "+tb)

		var cols []struct {
			Name    string `bun:"column_name"`
			NotNull bool   `bun:"not_null"`
			Default bool   `bun:"dflt"`
		}
		require.NoError(t, d.R.NewRaw(
			`SELECT column_name, is_nullable = 'NO' AS not_null,
			        (column_default IS NOT NULL OR is_identity = 'YES') AS dflt
			 FROM information_schema.columns
			 WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`, tb).Scan(ctx, &cols))
		for _, c := range cols {
			facts = append(facts, fmt.Sprintf("column %s.%s %s, %s", tb, c.Name, nullity(c.NotNull), defaulted(c.Default)))
		}

		var cons []struct {
			Kind     string   `bun:"contype"`
			Cols     []string `bun:"cols,array"`
			Ref      string   `bun:"ref"`
			RefCols  []string `bun:"ref_cols,array"`
			OnDelete string   `bun:"on_delete"`
		}
		require.NoError(t, d.R.NewRaw(
			`SELECT c.contype::text AS contype,
			        coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
			                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n), '{}') AS cols,
			        coalesce(fr.relname, '') AS ref,
			        coalesce((SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
			                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n), '{}') AS ref_cols,
			        CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
			                           WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' ELSE '' END AS on_delete
			 FROM pg_constraint c
			 JOIN pg_class r ON r.oid = c.conrelid
			 LEFT JOIN pg_class fr ON fr.oid = c.confrelid
			 WHERE r.relnamespace = current_schema()::regnamespace AND r.relname = ?
			 ORDER BY c.conname`, tb).Scan(ctx, &cons))
		checks := 0
		for _, c := range cons {
			switch c.Kind {
			case "p":
				facts = append(facts, fmt.Sprintf("primary key %s (%s)", tb, strings.Join(c.Cols, ", ")))
			case "u":
				facts = append(facts, fmt.Sprintf("unique %s (%s)", tb, strings.Join(c.Cols, ", ")))
			case "f":
				facts = append(facts, fkFact(tb, c.Cols, c.Ref, c.RefCols, c.OnDelete))
			case "c":
				checks++
			}
		}
		if checks > 0 {
			facts = append(facts, fmt.Sprintf("checks %s: %d", tb, checks))
		}

		// Indexes that back a constraint are reported as the constraint.
		var idx []struct {
			Name    string   `bun:"name"`
			Cols    []string `bun:"cols,array"`
			Unique  bool     `bun:"indisunique"`
			Partial bool     `bun:"partial"`
		}
		require.NoError(t, d.R.NewRaw(
			`SELECT ic.relname AS name,
			        (SELECT array_agg(CASE WHEN k.n = 0 THEN '<expr>' ELSE a.attname END ORDER BY k.ord)
			         FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(n, ord)
			         LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n
			         WHERE k.ord <= ix.indnkeyatts) AS cols,
			        ix.indisunique, ix.indpred IS NOT NULL AS partial
			 FROM pg_index ix
			 JOIN pg_class ic ON ic.oid = ix.indexrelid
			 JOIN pg_class r ON r.oid = ix.indrelid
			 WHERE r.relnamespace = current_schema()::regnamespace AND r.relname = ?
			   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.conrelid = ix.indrelid)
			 ORDER BY ic.relname`, tb).Scan(ctx, &idx))
		for _, ix := range idx {
			facts = append(facts, indexFact(tb, ix.Name, ix.Cols, ix.Unique, ix.Partial))
		}
	}
	slices.Sort(facts)
	return facts
}
