package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// store is the SQL of workflows; rules live in the service.
type store struct{ db *db.DB }

func notFound(err error, what string) error {
	if db.IsNoRows(err) {
		return apperr.Errorf(apperr.NotFound, "%s not found", what)
	}
	return err
}

func (st *store) create(ctx context.Context, w *Workflow, v *Version) error {
	return st.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.NewInsert().Model(w).Exec(ctx); err != nil {
			return fmt.Errorf("workflow: create: %w", err)
		}
		_, err := tx.NewInsert().Model(v).Exec(ctx)
		return err
	})
}

func (st *store) workflow(ctx context.Context, ownerID, id string) (*Workflow, error) {
	w := &Workflow{}
	err := st.db.R.NewSelect().Model(w).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	return w, notFound(err, "workflow")
}

func (st *store) version(ctx context.Context, workflowID string, version int) (*Version, error) {
	v := &Version{}
	err := st.db.R.NewSelect().Model(v).Where("workflow_id = ? AND version = ?", workflowID, version).Scan(ctx)
	return v, notFound(err, "workflow version")
}

func (st *store) versions(ctx context.Context, workflowID string) ([]Version, error) {
	var out []Version
	err := st.db.R.NewSelect().Model(&out).Where("workflow_id = ?", workflowID).Order("version DESC").Scan(ctx)
	return out, err
}

func (st *store) list(ctx context.Context, ownerID, cursor string, limit int) ([]Workflow, error) {
	var out []Workflow
	q := st.db.R.NewSelect().Model(&out).Where("owner_id = ?", ownerID).Order("id DESC").Limit(int64(limit))
	if cursor != "" {
		q = q.Where("id < ?", cursor)
	}
	return out, q.Scan(ctx)
}

type updateParams struct {
	ownerID, id       string
	now               time.Time
	name, description *string
	retention         *Retention
	spec              json.RawMessage // nil: no new version
}

// update changes a workflow and adds a version, in one transaction that
// locks the row so concurrent saves get consecutive versions.
func (st *store) update(ctx context.Context, p updateParams) (*Workflow, error) {
	w := &Workflow{}
	err := st.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		q := tx.NewUpdate().Model(w).Set("updated_at = ?", p.now).Where("id = ? AND owner_id = ?", p.id, p.ownerID).Returning("*")
		if p.name != nil {
			q = q.Set("name = ?", *p.name)
		}
		if p.description != nil {
			q = q.Set("description = ?", *p.description)
		}
		if p.retention != nil {
			q = q.Set("keep_checkpoints = ?", p.retention.KeepLast).Set("checkpoint_ttl_seconds = ?", p.retention.TTLSeconds)
		}
		if p.spec != nil {
			q = q.Set("latest_version = latest_version + 1")
		}
		if err := q.Scan(ctx); err != nil {
			return notFound(err, "workflow")
		}
		if p.spec == nil {
			return nil
		}
		_, err := tx.NewInsert().Model(&Version{WorkflowID: w.ID, Version: w.LatestVersion, Spec: p.spec, CreatedAt: p.now}).Exec(ctx)
		return err
	})
	return w, err
}

func (st *store) publish(ctx context.Context, id string, version int, now time.Time) (*Workflow, error) {
	w := &Workflow{}
	err := st.db.W.NewUpdate().Model(w).Set("published_version = ?", version).Set("updated_at = ?", now).
		Where("id = ?", id).Returning("*").Scan(ctx)
	return w, notFound(err, "workflow")
}

// Runs.

func (st *store) run(ctx context.Context, ownerID, id string) (*Run, error) {
	r := &Run{}
	err := st.db.R.NewSelect().Model(r).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	return r, notFound(err, "workflow run")
}

func (st *store) reload(ctx context.Context, id string) (*Run, error) {
	r := &Run{}
	err := st.db.W.NewSelect().Model(r).Where("id = ?", id).Scan(ctx)
	return r, notFound(err, "workflow run")
}

type runListParams struct {
	ownerID, workflowID, threadID, status, cursor string
	limit                                         int
}

func (st *store) runs(ctx context.Context, p runListParams) ([]Run, error) {
	var out []Run
	q := st.db.R.NewSelect().Model(&out).ExcludeColumn("checkpoint").Where("owner_id = ?", p.ownerID).Order("id DESC").Limit(int64(p.limit))
	if p.workflowID != "" {
		q = q.Where("workflow_id = ?", p.workflowID)
	}
	if p.threadID != "" {
		q = q.Where("thread_id = ?", p.threadID)
	}
	if p.status != "" {
		q = q.Where("status = ?", p.status)
	}
	if p.cursor != "" {
		q = q.Where("id < ?", p.cursor)
	}
	return out, q.Scan(ctx)
}

func (st *store) steps(ctx context.Context, runID string) ([]StepRow, error) {
	var out []StepRow
	err := st.db.R.NewSelect().Model(&out).Where("run_id = ?", runID).Order("id").Scan(ctx)
	return out, err
}

// done returns the nodes of a super-step that already succeeded.
func (st *store) done(ctx context.Context, runID string, step int) (map[string]*graph.Record, error) {
	var rows []StepRow
	if err := st.db.R.NewSelect().Model(&rows).Where("run_id = ? AND step = ? AND status = 'succeeded'", runID, step).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]*graph.Record, len(rows))
	for _, r := range rows {
		out[r.Node] = r.Record
	}
	return out, nil
}

func (st *store) checkpoints(ctx context.Context, runID string) ([]CheckpointRow, error) {
	var out []CheckpointRow
	err := st.db.R.NewSelect().Model(&out).Where("run_id = ?", runID).Order("step DESC").Scan(ctx)
	return out, err
}

func (st *store) checkpoint(ctx context.Context, runID, id string) (*CheckpointRow, error) {
	c := &CheckpointRow{}
	err := st.db.R.NewSelect().Model(c).Where("id = ? AND run_id = ?", id, runID).Scan(ctx)
	return c, notFound(err, "checkpoint")
}

// whereLease limits an update to a run this process holds.
func whereLease(q *bun.UpdateQuery, runID, owner string) *bun.UpdateQuery {
	return q.Where("id = ? AND lease_owner = ?", runID, owner)
}

func (st *store) thread(ctx context.Context, ownerID, id string) (*Thread, error) {
	t := &Thread{}
	err := st.db.W.NewSelect().Model(t).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	return t, notFound(err, "thread")
}

type commitParams struct {
	row        *CheckpointRow
	steps      []*StepRow
	leaseOwner string
}

// commitCheckpoint moves a run to a checkpoint, if leaseOwner holds it,
// and stores the checkpoint's row and step records. It reports whether the
// run moved; when it did not, nothing was written. (One data-modifying
// statement on PostgreSQL measured slower than these three.)
func (st *store) commitCheckpoint(ctx context.Context, tx *db.Tx, p commitParams) (bool, error) {
	move := whereLease(tx.NewUpdate().Model((*Run)(nil)), p.row.RunID, p.leaseOwner).
		Set("checkpoint = ?", p.row.Data).Set("checkpoint_id = ?", p.row.ID).Set("resume = NULL")
	insert := tx.NewInsert().Model(p.row)
	res, err := move.Exec(ctx)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if _, err := insert.Exec(ctx); err != nil {
		return false, err
	}
	if len(p.steps) > 0 {
		_, err = tx.NewInsert().Model(&p.steps).Exec(ctx)
	}
	return true, err
}

// insertProgress stores a run's last checkpoint row and step records held
// back until its end (durability exit); either may be empty.
func (st *store) insertProgress(ctx context.Context, tx *db.Tx, cp *CheckpointRow, steps []*StepRow) error {
	if cp != nil {
		if _, err := tx.NewInsert().Model(cp).Exec(ctx); err != nil {
			return err
		}
	}
	if len(steps) > 0 {
		_, err := tx.NewInsert().Model(&steps).Exec(ctx)
		return err
	}
	return nil
}
