package vault

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// Sealed names an encrypted column whose values were encrypted with the
// additional data AADPrefix + the row's id, as features seal their
// secrets.
type Sealed struct {
	Table, Column, AADPrefix string
}

// RewrapAll re-encrypts, under the active key, every value of the columns
// made under an older one, and returns how many changed.
func (v *Vault) RewrapAll(ctx context.Context, cols ...Sealed) (int, error) {
	n := 0
	for _, c := range cols {
		var rows []struct {
			ID    string `bun:"id"`
			Value string `bun:"value"`
		}
		if err := v.db.W.NewSelect().Table(c.Table).ColumnExpr("id, ? AS value", bun.Ident(c.Column)).
			Where("? <> ''", bun.Ident(c.Column)).Scan(ctx, &rows); err != nil {
			return n, fmt.Errorf("vault: read %s.%s: %w", c.Table, c.Column, err)
		}
		for _, r := range rows {
			out, changed, err := v.Rewrap(ctx, r.Value, c.AADPrefix+r.ID)
			if err != nil {
				return n, fmt.Errorf("vault: %s %s: %w", c.Table, r.ID, err)
			}
			if !changed {
				continue
			}
			// Only if nobody changed the value meanwhile.
			if _, err := v.db.W.NewUpdate().Table(c.Table).Set("? = ?", bun.Ident(c.Column), out).
				Where("id = ? AND ? = ?", r.ID, bun.Ident(c.Column), r.Value).Exec(ctx); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
