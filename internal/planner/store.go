package planner

import (
	"context"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
)

// store is the planner's SQL; rules live in the service.
type store struct{ db *db.DB }

func notFound(err error, what string) error {
	if db.IsNoRows(err) {
		return apperr.Errorf(apperr.NotFound, "%s not found", what)
	}
	return err
}

func (st *store) task(ctx context.Context, ownerID, id string) (*Task, error) {
	t := &Task{}
	err := st.db.R.NewSelect().Model(t).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	return t, notFound(err, "task")
}

// TaskFilter narrows a task listing.
type TaskFilter struct {
	Status         []string
	DueFrom, DueTo *time.Time
	Tag            string
	Course         string
	Cursor         string
	Limit          int
}

func (st *store) tasks(ctx context.Context, ownerID string, f TaskFilter) ([]Task, error) {
	var out []Task
	q := st.db.R.NewSelect().Model(&out).Where("owner_id = ?", ownerID).Order("id DESC").Limit(int64(f.Limit))
	if len(f.Status) > 0 {
		q = q.Where("status IN (?)", bun.In(f.Status))
	}
	if f.DueFrom != nil {
		q = q.Where("due_at >= ?", f.DueFrom.UTC())
	}
	if f.DueTo != nil {
		q = q.Where("due_at < ?", f.DueTo.UTC())
	}
	if f.Tag != "" {
		// Tags are validated to exclude JSON and LIKE metacharacters.
		q = q.Where("tags LIKE ?", `%"`+f.Tag+`"%`)
	}
	if f.Course != "" {
		q = q.Where("course = ?", f.Course)
	}
	if f.Cursor != "" {
		q = q.Where("id < ?", f.Cursor)
	}
	return out, q.Scan(ctx)
}

// openTasks are the tasks that still need time.
func (st *store) openTasks(ctx context.Context, ownerID string) ([]Task, error) {
	var out []Task
	err := st.db.R.NewSelect().Model(&out).Where("owner_id = ? AND status IN (?)", ownerID, bun.In(openStatuses)).
		Order("id").Scan(ctx)
	return out, err
}

// existing returns which of ids are tasks of the owner.
func (st *store) existing(ctx context.Context, ownerID string, ids []string) (map[string]Task, error) {
	out := map[string]Task{}
	if len(ids) == 0 {
		return out, nil
	}
	var ts []Task
	if err := st.db.R.NewSelect().Model(&ts).Where("owner_id = ? AND id IN (?)", ownerID, bun.In(ids)).Scan(ctx); err != nil {
		return nil, err
	}
	for _, t := range ts {
		out[t.ID] = t
	}
	return out, nil
}

// dependencies maps every task of the owner to what it depends on.
func (st *store) dependencies(ctx context.Context, ownerID string) (map[string][]string, error) {
	var ts []Task
	if err := st.db.R.NewSelect().Model(&ts).Column("id", "depends_on").Where("owner_id = ?", ownerID).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(ts))
	for _, t := range ts {
		out[t.ID] = t.DependsOn.V
	}
	return out, nil
}

func (st *store) insertTask(ctx context.Context, t *Task) error {
	_, err := st.db.W.NewInsert().Model(t).Exec(ctx)
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "a task with this source and external_id exists")
	}
	return err
}

func (st *store) updateTask(ctx context.Context, t *Task) error {
	res, err := st.db.W.NewUpdate().Model(t).WherePK().Where("owner_id = ?", t.OwnerID).Exec(ctx)
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "a task with this source and external_id exists")
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "task not found")
	}
	return nil
}

func (st *store) deleteTask(ctx context.Context, ownerID, id string) error {
	return st.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.NewDelete().Model((*Block)(nil)).Where("task_id = ? AND owner_id = ?", id, ownerID).Exec(ctx); err != nil {
			return err
		}
		res, err := tx.NewDelete().Model((*Task)(nil)).Where("id = ? AND owner_id = ?", id, ownerID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "task not found")
		}
		return nil
	})
}

// Events.

func (st *store) event(ctx context.Context, ownerID, id string) (*Event, error) {
	e := &Event{}
	err := st.db.R.NewSelect().Model(e).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	return e, notFound(err, "event")
}

// EventFilter narrows an event listing to those overlapping [From, To).
type EventFilter struct {
	From, To *time.Time
	Cursor   string
	Limit    int
}

func (st *store) events(ctx context.Context, ownerID string, f EventFilter) ([]Event, error) {
	var out []Event
	q := st.db.R.NewSelect().Model(&out).Where("owner_id = ?", ownerID).Order("start_at", "id").Limit(int64(f.Limit))
	if f.From != nil {
		q = q.Where("end_at > ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("start_at < ?", f.To.UTC())
	}
	if f.Cursor != "" {
		at, id, ok := strings.Cut(f.Cursor, "|")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil {
			return nil, apperr.InvalidField("query.cursor", "is not a cursor from this listing")
		}
		q = q.Where("(start_at > ? OR (start_at = ? AND id > ?))", t.UTC(), t.UTC(), id)
	}
	return out, q.Scan(ctx)
}

func (st *store) insertEvent(ctx context.Context, e *Event) error {
	_, err := st.db.W.NewInsert().Model(e).Exec(ctx)
	return err
}

func (st *store) updateEvent(ctx context.Context, e *Event) error {
	res, err := st.db.W.NewUpdate().Model(e).WherePK().Where("owner_id = ?", e.OwnerID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "event not found")
	}
	return nil
}

// Blocks.

func (st *store) block(ctx context.Context, ownerID, id string) (*Block, error) {
	b := &Block{}
	err := st.db.R.NewSelect().Model(b).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	return b, notFound(err, "schedule block")
}

// blocks lists the blocks overlapping [from, to); zero times are open.
func (st *store) blocks(ctx context.Context, ownerID string, from, to time.Time) ([]Block, error) {
	var out []Block
	q := st.db.R.NewSelect().Model(&out).Where("owner_id = ?", ownerID).Order("start_at", "id")
	if !from.IsZero() {
		q = q.Where("end_at > ?", from.UTC())
	}
	if !to.IsZero() {
		q = q.Where("start_at < ?", to.UTC())
	}
	return out, q.Scan(ctx)
}

// replaceParams swaps the movable blocks of a plan for new ones.
type replaceParams struct {
	ownerID   string
	revision  int       // the revision the plan was computed from
	plannedAt time.Time // when its input was read
	remove    []string  // block ids
	add       []Block
	plan      *Plan
}

// replace applies a plan in one transaction, so readers see the old plan
// or the new one. It fails with errStale if the blocks changed since the
// plan's input was read (another plan, a block edit, a deleted task).
func (st *store) replace(ctx context.Context, p replaceParams) error {
	err := st.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := bumpRevision(ctx, tx, p.ownerID, &p.revision); err != nil {
			return err
		}
		res, err := tx.NewUpdate().Model((*Plan)(nil)).
			Set("unscheduled = ?", p.plan.Unscheduled).Set("at_risk = ?", p.plan.AtRisk).Set("planned_at = ?", p.plannedAt).
			// A change after the plan's input was read still needs a plan.
			Set("changed_at = CASE WHEN changed_at <= ? THEN NULL ELSE changed_at END", p.plannedAt).
			Set("updated_at = ?", time.Now().UTC()).Where("owner_id = ?", p.ownerID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errStale
		}
		for i := 0; i < len(p.remove); i += 500 {
			ids := p.remove[i:min(i+500, len(p.remove))]
			if _, err := tx.NewDelete().Model((*Block)(nil)).Where("owner_id = ? AND id IN (?)", p.ownerID, bun.In(ids)).Exec(ctx); err != nil {
				return err
			}
		}
		for i := 0; i < len(p.add); i += 200 {
			chunk := p.add[i:min(i+200, len(p.add))]
			if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
				if db.IsForeignKeyViolation(err) {
					return errStale // a task was deleted meanwhile
				}
				return err
			}
		}
		return nil
	})
	return err
}

// bumpRevision moves the owner's plan to the next revision if it is at
// *rev (nil-safe: rev < 0 bumps whatever it is), taking the row's lock
// for the rest of the transaction.
func bumpRevision(ctx context.Context, tx *db.Tx, ownerID string, rev *int) error {
	now := time.Now().UTC()
	if _, err := tx.NewInsert().Model(&Plan{OwnerID: ownerID, UpdatedAt: now}).On("CONFLICT (owner_id) DO NOTHING").Exec(ctx); err != nil {
		return err
	}
	q := tx.NewUpdate().Model((*Plan)(nil)).Set("revision = revision + 1").Where("owner_id = ?", ownerID)
	if rev != nil && *rev >= 0 {
		q = q.Where("revision = ?", *rev)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errStale
	}
	return nil
}

// editBlock stores a change to one block, bumping the revision so a plan
// computed before it is not applied over it.
func (st *store) editBlock(ctx context.Context, b *Block) error {
	return st.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := bumpRevision(ctx, tx, b.OwnerID, nil); err != nil {
			return err
		}
		_, err := tx.NewUpdate().Model(b).WherePK().Where("owner_id = ?", b.OwnerID).Exec(ctx)
		return err
	})
}

// busy lists the busy events overlapping [from, to).
func (st *store) busy(ctx context.Context, ownerID string, from, to time.Time) ([]Event, error) {
	var out []Event
	err := st.db.R.NewSelect().Model(&out).Where("owner_id = ? AND transparency = 'busy' AND end_at > ? AND start_at < ?", ownerID, from, to).
		Order("start_at", "id").Scan(ctx)
	return out, err
}

// planBlocks are the blocks a plan depends on: every block not yet over,
// and the past blocks of open tasks (they count toward the estimate).
func (st *store) planBlocks(ctx context.Context, ownerID string, now time.Time) ([]Block, error) {
	var out []Block
	openIDs := st.db.R.NewSelect().Model((*Task)(nil)).Column("id").Where("owner_id = ? AND status IN (?)", ownerID, bun.In(openStatuses))
	err := st.db.R.NewSelect().Model(&out).Where("owner_id = ?", ownerID).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("end_at > ?", now).WhereOr("task_id IN (?)", openIDs)
		}).Order("start_at", "id").Scan(ctx)
	return out, err
}

// Plans.

func (st *store) plan(ctx context.Context, ownerID string) (*Plan, error) {
	p := &Plan{}
	err := st.db.R.NewSelect().Model(p).Where("owner_id = ?", ownerID).Scan(ctx)
	if db.IsNoRows(err) {
		return &Plan{OwnerID: ownerID}, nil
	}
	return p, err
}

func (st *store) savePreferences(ctx context.Context, ownerID string, prefs *Preferences, now time.Time) error {
	p := &Plan{OwnerID: ownerID, Preferences: db.JSON[*Preferences]{V: prefs}, UpdatedAt: now}
	_, err := st.db.W.NewInsert().Model(p).On("CONFLICT (owner_id) DO UPDATE").
		Set("preferences = EXCLUDED.preferences").Set("updated_at = EXCLUDED.updated_at").Exec(ctx)
	return err
}

// changed records that the plan's input changed at now.
func (st *store) changed(ctx context.Context, ownerID string, now time.Time) error {
	p := &Plan{OwnerID: ownerID, ChangedAt: &now, UpdatedAt: now}
	_, err := st.db.W.NewInsert().Model(p).On("CONFLICT (owner_id) DO UPDATE").
		Set("changed_at = EXCLUDED.changed_at").Set("updated_at = EXCLUDED.updated_at").Exec(ctx)
	return err
}
