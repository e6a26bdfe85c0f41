package db

import (
	"context"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// DeleteOwnedParams names one row a user owns.
type DeleteOwnedParams struct {
	Model   any    // a typed nil pointer, e.g. (*Key)(nil)
	ID      string // the row's id
	OwnerID string // the caller
	What    string // for the error: "MCP server"
}

// DeleteOwned deletes the row if the owner has it. Another owner's row is
// "not found", exactly like a missing one, so ids reveal nothing.
func (d *DB) DeleteOwned(ctx context.Context, p DeleteOwnedParams) error {
	res, err := d.W.NewDelete().Model(p.Model).Where("id = ? AND owner_id = ?", p.ID, p.OwnerID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.NotFound, "%s not found", p.What)
	}
	return nil
}
