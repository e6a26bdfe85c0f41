package planner

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// ScheduleOut is the stored schedule of a range.
type ScheduleOut struct {
	Blocks      []BlockOut       `json:"blocks"`
	Unscheduled []UnscheduledOut `json:"unscheduled" doc:"from the last plan applied"`
	AtRisk      []AtRiskOut      `json:"at_risk" doc:"from the last plan applied"`
	PlannedAt   *time.Time       `json:"planned_at,omitempty"`
	Pending     bool             `json:"replan_pending" doc:"something changed since the last plan; a re-plan is due"`
}

// Schedule returns the stored blocks overlapping [from, to).
func (s *Service) Schedule(ctx context.Context, from, to time.Time) (*ScheduleOut, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return nil, apperr.InvalidField("query.to", "is not after from")
	}
	if !from.IsZero() && !to.IsZero() && to.Sub(from) > 366*24*time.Hour {
		return nil, apperr.InvalidField("query.to", "the range is longer than a year")
	}
	blocks, err := s.store.blocks(ctx, owner, from, to)
	if err != nil {
		return nil, err
	}
	plan, err := s.store.plan(ctx, owner)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(blocks))
	for _, b := range blocks {
		ids = append(ids, b.TaskID)
	}
	tasks, err := s.store.existing(ctx, owner, ids)
	if err != nil {
		return nil, err
	}
	out := &ScheduleOut{Blocks: make([]BlockOut, 0, len(blocks)), Unscheduled: nonNil(plan.Unscheduled.V),
		AtRisk: nonNil(plan.AtRisk.V), PlannedAt: plan.PlannedAt, Pending: plan.ChangedAt != nil}
	for _, b := range blocks {
		out.Blocks = append(out.Blocks, blockOut(&b, tasks[b.TaskID].Title))
	}
	return out, nil
}

func blockOut(b *Block, title string) BlockOut {
	return BlockOut{ID: b.ID, TaskID: b.TaskID, Title: title, Start: b.StartAt.UTC(), End: b.EndAt.UTC(), Locked: b.Locked, Done: b.Done,
		Kept: true, Why: b.Explanation}
}

// BlockPatch changes a block: lock it, move it or mark it done.
type BlockPatch struct {
	Locked *bool      `json:"locked,omitempty" doc:"a locked block is never moved by the planner"`
	Done   *bool      `json:"done,omitempty" doc:"its time was spent on the task; it stays and counts toward the estimate"`
	Start  *time.Time `json:"start,omitempty" doc:"move it; a moved block is locked unless locked is false"`
	End    *time.Time `json:"end,omitempty"`
}

// UpdateBlock applies a patch to a stored block and re-plans around it.
func (s *Service) UpdateBlock(ctx context.Context, id string, p BlockPatch) (*BlockOut, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.store.block(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	t, err := s.store.task(ctx, owner, b.TaskID)
	if err != nil {
		return nil, err
	}
	if p.Start != nil || p.End != nil {
		start, end := b.StartAt, b.EndAt
		if p.Start != nil {
			start = p.Start.UTC()
		}
		if p.End != nil {
			end = p.End.UTC()
		} else if p.Start != nil {
			end = start.Add(b.EndAt.Sub(b.StartAt)) // moved, same length
		}
		if err := s.checkMove(ctx, b, t, start, end); err != nil {
			return nil, err
		}
		b.StartAt, b.EndAt, b.Locked = start, end, true
		b.Explanation = "Moved by you: the planner builds around it."
	}
	if p.Locked != nil {
		b.Locked = *p.Locked
	}
	if p.Done != nil {
		b.Done = *p.Done
	}
	b.UpdatedAt = s.now().UTC()
	if err := s.store.editBlock(ctx, b); err != nil {
		return nil, err
	}
	out := blockOut(b, t.Title)
	return &out, s.touch(ctx, owner)
}

// checkMove validates a block's new time: a real range, no shorter than
// the task's smallest block, and clear of the user's other blocks.
func (s *Service) checkMove(ctx context.Context, b *Block, t *Task, start, end time.Time) error {
	d := end.Sub(start)
	switch {
	case d <= 0:
		return apperr.InvalidField("body.end", "is not after start")
	case d > 24*time.Hour:
		return apperr.InvalidField("body.end", "a block is at most 24 hours")
	}
	if t.Splittable {
		prefs, err := s.preferences(ctx, b.OwnerID)
		if err != nil {
			return err
		}
		if minimum := cmp.Or(t.MinBlockMinutes, prefs.MinBlockMinutes); d < time.Duration(minimum)*time.Minute && d < time.Duration(t.EstimateMinutes)*time.Minute {
			return apperr.InvalidField("body.end", fmt.Sprintf("the block is shorter than the task's smallest block, %d minutes", minimum))
		}
	} else if d < time.Duration(t.EstimateMinutes)*time.Minute {
		return apperr.InvalidField("body.end", fmt.Sprintf("the task cannot be split: its block must be %d minutes", t.EstimateMinutes))
	}
	others, err := s.store.blocks(ctx, b.OwnerID, start, end)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != b.ID {
			return apperr.Errorf(apperr.Conflict, "the new time overlaps another block (%s)", o.ID)
		}
	}
	return nil
}

// nonNil makes a nil list encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
