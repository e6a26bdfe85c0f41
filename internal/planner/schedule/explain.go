package schedule

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// result turns a solution into blocks with explanations, and names the
// tasks left out or late.
func (pb *problem) result(bs *base, sol *solution, evals int) *Result {
	r := &Result{Cost: sol.cost, Evaluations: evals}
	type key struct {
		id   string
		s, e int64
	}
	prev := make(map[key]bool, len(pb.p.Previous))
	for _, b := range pb.p.Previous {
		prev[key{b.TaskID, b.Start.Unix(), b.End.Unix()}] = true
	}
	for j := range pb.jobs {
		jb := &pb.jobs[j]
		sps := sol.blocks[j]
		why := pb.why(sol, j, bs.kept[j] != nil)
		for x, sp := range sps {
			blk := Block{TaskID: jb.t.ID, Start: pb.at(sp.s), End: pb.at(sp.e)}
			kept := prev[key{blk.TaskID, blk.Start.Unix(), blk.End.Unix()}]
			if kept {
				r.Kept++
			}
			r.Blocks = append(r.Blocks, Placed{Block: blk, Kept: kept, Part: x + 1, Of: len(sps), Why: why})
		}
		if !sol.placed[j] {
			reason, detail := pb.reason(sol, j)
			r.Unscheduled = append(r.Unscheduled, Unscheduled{TaskID: jb.t.ID, Reason: reason, Detail: detail})
		} else if e := pb.end(sol, j); jb.hasDue && e > jb.due {
			r.AtRisk = append(r.AtRisk, AtRisk{TaskID: jb.t.ID, ETA: pb.at(e), Due: jb.t.Due})
		}
	}
	r.Moved = len(pb.p.Previous) - r.Kept
	slices.SortStableFunc(r.Blocks, func(a, b Placed) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.TaskID, b.TaskID)
	})
	return r
}

// at is the start of slot i in the user's zone.
func (pb *problem) at(i int) time.Time { return pb.g.At(i).In(pb.p.Location) }

func (pb *problem) when(t time.Time) string { return t.In(pb.p.Location).Format("Mon 2 Jan 15:04") }

// why explains where a job's blocks are, in terms the user set.
func (pb *problem) why(sol *solution, j int, kept bool) string {
	jb := &pb.jobs[j]
	if kept {
		return "Kept where it was: it still fits and nothing now conflicts with it."
	}
	sps := sol.blocks[j]
	if len(sps) == 0 {
		return ""
	}
	var parts []string
	after := "the first free time in your working hours"
	lo := jb.rel
	for _, k := range jb.deps {
		if e := pb.end(sol, k); e > lo {
			lo = e
			after = fmt.Sprintf("the first free time after “%s”, which it depends on", pb.jobs[k].t.Title)
		}
	}
	if lo == jb.rel && !jb.t.EarliestStart.IsZero() && pb.ceil(jb.t.EarliestStart) >= pb.ceil(pb.p.Now) {
		after = "the first free time after its earliest start (" + pb.when(jb.t.EarliestStart) + ")"
	}
	end := sps[len(sps)-1].e
	late := jb.hasDue && end > jb.due
	switch {
	case late:
		parts = append(parts, fmt.Sprintf("There is no room before its due date (%s), so it goes in %s and finishes %s late.",
			pb.when(jb.t.Due), after, span{jb.due, end}.duration()))
	case sps[0].s > lo && pb.fitOf(jb, sps) == 0 && jb.fit:
		parts = append(parts, "Placed where it suits your focus periods and its preferred times.")
	case sps[0].s > lo:
		parts = append(parts, "Placed after "+after+" where it suits your focus periods and preferred times better.")
	default:
		parts = append(parts, "Placed in "+after+".")
	}
	if jb.hasDue && !late {
		parts = append(parts, fmt.Sprintf("It finishes %s before its due date (%s).", span{end, jb.due}.duration(), pb.when(jb.t.Due)))
	}
	if len(sps) > 1 {
		parts = append(parts, fmt.Sprintf("Split into %d blocks to fit around other commitments.", len(sps)))
	}
	return strings.Join(parts, " ")
}

func (sp span) duration() string {
	d := time.Duration(sp.e-sp.s) * Slot
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	var out []string
	if days > 0 {
		out = append(out, plural(days, "day"))
	}
	if h := int(d / time.Hour); h > 0 {
		out = append(out, fmt.Sprintf("%d h", h))
	}
	if m := int(d % time.Hour / time.Minute); m > 0 || len(out) == 0 {
		out = append(out, fmt.Sprintf("%d min", m))
	}
	return strings.Join(out, " ")
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// reason finds why job j could not be placed, using the board as the
// final solution left it.
func (pb *problem) reason(sol *solution, j int) (Reason, string) {
	jb := &pb.jobs[j]
	for _, k := range jb.deps {
		if !sol.placed[k] {
			return DependencyNotPlaced, fmt.Sprintf("It depends on “%s”, which could not be placed.", pb.jobs[k].t.Title)
		}
	}
	lo, _ := pb.release(sol, j)
	if lo >= pb.n {
		return StartsAfterHorizon, "It cannot start before the end of the planning horizon."
	}
	hi := pb.n
	bounded := jb.hasDue && !pb.p.AllowLate
	if bounded {
		hi = min(hi, jb.due)
	}
	if hi <= lo {
		return NoRoomBeforeDue, "Its due date (" + pb.when(jb.t.Due) + ") is before it can start."
	}
	b := &pb.b
	if b.cap > 0 {
		c := b.cap
		b.cap = 0
		sps, ok := b.placeEarliest(j, jb.shape, lo, hi, nil)
		b.cap = c
		for _, sp := range sps {
			b.clear(sp)
		}
		if ok {
			return DailyCapReached, "It would fit only by going over your daily limit of scheduled time."
		}
	}
	if bounded {
		return NoRoomBeforeDue, "There is not enough free time before its due date (" + pb.when(jb.t.Due) + ")."
	}
	where := "the planning horizon"
	if !pb.p.ScopeStart.IsZero() || !pb.p.ScopeEnd.IsZero() {
		where = "the range being planned"
	}
	if jb.shape.parts < unlimited && jb.shape.split {
		return NoRoomInHorizon, fmt.Sprintf("There is not enough free time in %s for it in at most %d blocks.", where, jb.t.MaxSplits)
	}
	return NoRoomInHorizon, "There is not enough free time in " + where + "."
}
