// Package kv is a small durable key-value store with expiry, kept in the main
// database so it needs no extra service: idempotency records, OAuth states and
// one-time codes live here. Expired entries are invisible at once and removed
// later by the maintenance job (PruneExpired).
package kv

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
)

type entry struct {
	bun.BaseModel `bun:"table:pulse_kv"`

	Namespace string     `bun:"namespace,pk"`
	Key       string     `bun:"key,pk"`
	Value     []byte     `bun:"value,notnull"`
	ExpiresAt *time.Time `bun:"expires_at"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
}

// Store reads and writes entries.
type Store struct {
	db  *db.DB
	w   bun.IDB // where writes (and reads that must see them) go
	now func() time.Time
}

// New returns a Store; now is time.Now outside tests.
func New(d *db.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: d, w: d.W, now: now}
}

// With returns the store working inside tx, so its writes commit with the
// caller's (and, on SQLite, do not wait for the connection tx holds).
func (s *Store) With(tx bun.IDB) *Store {
	c := *s
	c.w = tx
	return &c
}

// PutParams is one entry to write. TTL 0 means it never expires.
type PutParams struct {
	Namespace string
	Key       string
	Value     []byte
	TTL       time.Duration
}

func (s *Store) row(p PutParams) *entry {
	now := s.now().UTC()
	e := &entry{Namespace: p.Namespace, Key: p.Key, Value: p.Value, CreatedAt: now}
	if e.Value == nil {
		e.Value = []byte{}
	}
	if p.TTL > 0 {
		exp := now.Add(p.TTL)
		e.ExpiresAt = &exp
	}
	return e
}

// Put writes the entry, replacing any existing one.
func (s *Store) Put(ctx context.Context, p PutParams) error {
	_, err := s.w.NewInsert().Model(s.row(p)).
		On("CONFLICT (namespace, key) DO UPDATE").
		Set("value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("kv put: %w", err)
	}
	return nil
}

// Create writes the entry only if no live entry has the key (an expired one
// is replaced). It returns apperr.Conflict otherwise, which makes it a
// once-only claim usable across processes.
func (s *Store) Create(ctx context.Context, p PutParams) error {
	res, err := s.w.NewInsert().Model(s.row(p)).
		On("CONFLICT (namespace, key) DO UPDATE").
		Set("value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, created_at = EXCLUDED.created_at").
		Where("?TableAlias.expires_at IS NOT NULL AND ?TableAlias.expires_at <= ?", s.now().UTC()).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("kv create: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.Conflict, "key %q already exists", p.Key)
	}
	return nil
}

// Get returns the value of a live entry, or apperr.NotFound.
func (s *Store) Get(ctx context.Context, namespace, key string) ([]byte, error) {
	var e entry
	err := s.w.NewSelect().Model(&e).
		Where("namespace = ? AND key = ?", namespace, key).
		Where("expires_at IS NULL OR expires_at > ?", s.now().UTC()).
		Scan(ctx)
	if db.IsNoRows(err) {
		return nil, apperr.Errorf(apperr.NotFound, "key %q not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	return e.Value, nil
}

// Delete removes an entry; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, namespace, key string) error {
	_, err := s.w.NewDelete().Model((*entry)(nil)).
		Where("namespace = ? AND key = ?", namespace, key).Exec(ctx)
	if err != nil {
		return fmt.Errorf("kv delete: %w", err)
	}
	return nil
}

// Take deletes a live entry and returns its value, atomically: of several
// concurrent takers exactly one gets it. For single-use tokens.
func (s *Store) Take(ctx context.Context, namespace, key string) ([]byte, error) {
	var values [][]byte
	err := s.w.NewDelete().Model((*entry)(nil)).
		Where("namespace = ? AND key = ?", namespace, key).
		Where("expires_at IS NULL OR expires_at > ?", s.now().UTC()).
		Returning("value").Scan(ctx, &values)
	if err != nil {
		return nil, fmt.Errorf("kv take: %w", err)
	}
	if len(values) == 0 {
		return nil, apperr.Errorf(apperr.NotFound, "key %q not found", key)
	}
	return values[0], nil
}

// PruneExpired deletes up to limit expired entries and returns how many it
// deleted. Batches keep each write short: on SQLite the writer is shared.
func (s *Store) PruneExpired(ctx context.Context, limit int) (int64, error) {
	sub := s.db.W.NewSelect().Model((*entry)(nil)).Column("namespace", "key").
		Where("expires_at IS NOT NULL AND expires_at <= ?", s.now().UTC()).
		Limit(int64(limit))
	res, err := s.db.W.NewDelete().Model((*entry)(nil)).
		Where("(namespace, key) IN (?)", sub).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("kv prune: %w", err)
	}
	return res.RowsAffected()
}

// PruneAll deletes every expired entry, a batch at a time.
func (s *Store) PruneAll(ctx context.Context) (int64, error) {
	const batch = 1000
	var total int64
	for {
		n, err := s.PruneExpired(ctx, batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

// GetMany returns the live values of the keys that exist, in one query.
func (s *Store) GetMany(ctx context.Context, namespace string, keys ...string) (map[string][]byte, error) {
	var rows []entry
	err := s.db.R.NewSelect().Model(&rows).
		Where("namespace = ? AND key IN (?)", namespace, bun.In(keys)).
		Where("expires_at IS NULL OR expires_at > ?", s.now().UTC()).
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("kv get many: %w", err)
	}
	out := make(map[string][]byte, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Value
	}
	return out, nil
}

// All returns every live entry of a namespace.
func (s *Store) All(ctx context.Context, namespace string) (map[string][]byte, error) {
	var rows []entry
	err := s.db.R.NewSelect().Model(&rows).Where("namespace = ?", namespace).
		Where("expires_at IS NULL OR expires_at > ?", s.now().UTC()).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("kv all: %w", err)
	}
	out := make(map[string][]byte, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Value
	}
	return out, nil
}
