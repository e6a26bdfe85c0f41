package schedule

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var zones = func() []*time.Location {
	var out []*time.Location
	for _, n := range []string{"UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"} {
		l, err := time.LoadLocation(n)
		if err != nil {
			panic(err)
		}
		out = append(out, l)
	}
	return out
}()

// randomParams makes an instance with every kind of constraint. Starts
// near DST changes in both hemispheres come up often.
func randomParams(rng *rand.Rand) Params {
	loc := zones[rng.IntN(len(zones))]
	starts := []time.Time{
		time.Date(2025, 3, 7, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 28, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 4, 4, 0, 0, 0, 0, time.UTC), time.Date(2025, 10, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC),
	}
	now := starts[rng.IntN(len(starts))].Add(time.Duration(rng.IntN(24*60)) * time.Minute).In(loc)
	days := 1 + rng.IntN(10)
	p := Params{Now: now, End: now.AddDate(0, 0, days), Location: loc, AllowLate: rng.IntN(2) == 0}
	for d := range p.Working {
		if rng.IntN(6) == 0 {
			continue
		}
		c := Clock(rng.IntN(12*4) * 15)
		for range 1 + rng.IntN(3) {
			e := c + Clock(15*(1+rng.IntN(24)))
			if e > 1440 {
				break
			}
			p.Working[d] = append(p.Working[d], Range{c, e})
			c = e + Clock(15*rng.IntN(8))
		}
	}
	if rng.IntN(3) == 0 {
		p.Focus = everyDay(Range{At(13, 0), At(18, 0)})
	}
	if rng.IntN(4) == 0 {
		p.DaysOff = []Date{DateOf(now.AddDate(0, 0, 1), loc)}
	}
	p.Break = time.Duration(rng.IntN(3)*10) * time.Minute
	if rng.IntN(3) == 0 {
		p.DailyCap = time.Duration(60+rng.IntN(6)*60) * time.Minute
	}
	span := p.End.Sub(now)
	rnd := func() time.Time { return now.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Minute) }
	for range rng.IntN(15) {
		s := rnd()
		p.Busy = append(p.Busy, Busy{Start: s, End: s.Add(time.Duration(10+rng.IntN(180)) * time.Minute), Buffer: time.Duration(rng.IntN(3)*15) * time.Minute})
	}
	n := 1 + rng.IntN(25)
	for i := range n {
		t := Task{ID: fmt.Sprintf("t%d", i), Title: fmt.Sprintf("Task %d", i), Minutes: 5 + rng.IntN(240),
			Priority: []Priority{Low, Medium, High, Urgent}[rng.IntN(4)]}
		if rng.IntN(3) > 0 {
			t.Due = rnd()
		}
		if rng.IntN(3) == 0 {
			t.EarliestStart = rnd()
			if !t.Due.IsZero() && t.Due.Before(t.EarliestStart) {
				t.Due, t.EarliestStart = t.EarliestStart, t.Due
			}
		}
		if rng.IntN(2) == 0 {
			t.Splittable = true
			t.MinBlock = 15 * rng.IntN(5)
			if rng.IntN(2) == 0 {
				t.MaxBlock = max(t.MinBlock, 15*(1+rng.IntN(8)))
			}
			t.MaxSplits = rng.IntN(4)
		}
		if i > 0 && rng.IntN(4) == 0 {
			t.DependsOn = []string{fmt.Sprintf("t%d", rng.IntN(i))}
		}
		if rng.IntN(5) == 0 {
			t.Preferred = []Window{{time.Weekday(rng.IntN(7)), Range{At(8, 0), At(12, 0)}}}
		}
		if rng.IntN(5) == 0 {
			t.Avoid = []Window{{time.Weekday(rng.IntN(7)), Range{At(12, 0), At(15, 0)}}}
		}
		p.Tasks = append(p.Tasks, t)
	}
	if rng.IntN(3) == 0 {
		s := rnd().Truncate(Slot)
		p.Fixed = append(p.Fixed, Block{TaskID: p.Tasks[rng.IntN(n)].ID, Start: s, End: s.Add(30 * time.Minute)})
	}
	if rng.IntN(3) == 0 {
		s := rnd().Truncate(Slot)
		p.Fixed = append(p.Fixed, Block{TaskID: "elsewhere", Start: s, End: s.Add(45 * time.Minute)})
	}
	return p
}

func TestPropertiesOnRandomInstances(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range n {
		p := randomParams(rng)
		r, err := Solve(p)
		require.NoError(t, err, "instance %d", i)
		if err := checkSchedule(p, r); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		// Half the instances are re-planned from their own result with
		// one task changed: the same rules hold.
		if i%2 == 0 && len(p.Tasks) > 0 {
			p.Previous = blockList(r)
			p.Tasks[i%len(p.Tasks)].Minutes += 30
			r, err = Solve(p)
			require.NoError(t, err)
			if err := checkSchedule(p, r); err != nil {
				t.Fatalf("instance %d re-planned: %v", i, err)
			}
		}
		again, err := Solve(p)
		require.NoError(t, err)
		require.Equal(t, r, again, "instance %d is not deterministic", i)
	}
}

// checkSchedule verifies a result from its definition, in real time and
// local wall clocks, without the engine's slot arithmetic.
func checkSchedule(p Params, r *Result) error {
	loc := p.Location
	type iv struct {
		s, e time.Time
		task string
		new  bool
	}
	var all []iv
	for _, f := range p.Fixed {
		all = append(all, iv{f.Start, f.End, f.TaskID, false})
	}
	placed := map[string][]Block{}
	off := map[Date]bool{}
	for _, d := range p.DaysOff {
		off[d] = true
	}
	for _, b := range r.Blocks {
		if !b.End.After(b.Start) || b.Start.Sub(p.Now.Truncate(Slot))%Slot != 0 || b.End.Sub(b.Start)%Slot != 0 {
			return fmt.Errorf("%v: not whole slots", b)
		}
		if b.Start.Before(p.Now) || b.End.After(p.End) {
			return fmt.Errorf("%v: outside the horizon", b)
		}
		for s := b.Start; s.Before(b.End); s = s.Add(Slot) {
			if !working(p, off, s) {
				return fmt.Errorf("%v: %s is outside working hours", b, s.In(loc).Format(time.RFC3339))
			}
		}
		for _, bz := range p.Busy {
			if b.Start.Before(bz.End.Add(bz.Buffer)) && bz.Start.Add(-bz.Buffer).Before(b.End) {
				return fmt.Errorf("%v overlaps busy time %v-%v with its buffer", b, bz.Start, bz.End)
			}
		}
		placed[b.TaskID] = append(placed[b.TaskID], b.Block)
		all = append(all, iv{b.Start, b.End, b.TaskID, true})
	}
	slices.SortFunc(all, func(a, b iv) int { return a.s.Compare(b.s) })
	for i := range all {
		for j := i + 1; j < len(all) && all[j].s.Before(all[i].e.Add(p.Break)); j++ {
			if !all[i].new && !all[j].new {
				continue
			}
			return fmt.Errorf("%v and %v overlap or leave less than the break", all[i], all[j])
		}
		if i > 0 && all[i].task == all[i-1].task && all[i].s.Equal(all[i-1].e) {
			return fmt.Errorf("%v touches %v of the same task", all[i], all[i-1])
		}
	}
	if p.DailyCap > 0 {
		byDay, fixedDay := map[Date]time.Duration{}, map[Date]time.Duration{}
		for _, x := range all {
			for s := x.s; s.Before(x.e); s = s.Add(Slot) {
				byDay[DateOf(s, loc)] += Slot
				if !x.new {
					fixedDay[DateOf(s, loc)] += Slot
				}
			}
		}
		for d, v := range byDay {
			if v > max(p.DailyCap, fixedDay[d]) {
				return fmt.Errorf("%v has %v scheduled, over the cap", d, v)
			}
		}
	}
	unsched := map[string]Reason{}
	for _, u := range r.Unscheduled {
		unsched[u.TaskID] = u.Reason
	}
	ends := map[string]time.Time{}
	for _, t := range p.Tasks {
		var fixed time.Duration
		fixedParts := 0
		for _, f := range p.Fixed {
			if f.TaskID == t.ID {
				fixed += f.End.Sub(f.Start)
				fixedParts++
				if f.End.After(ends[t.ID]) {
					ends[t.ID] = f.End
				}
			}
		}
		need := max(time.Duration(t.Minutes)*time.Minute, 0)
		need = (need + Slot - 1) / Slot * Slot
		need = max(need-fixed, 0)
		bs := placed[t.ID]
		var got time.Duration
		for _, b := range bs {
			got += b.End.Sub(b.Start)
		}
		_, left := unsched[t.ID]
		switch {
		case left && len(bs) > 0:
			return fmt.Errorf("%s is both placed and left out", t.ID)
		case left:
			continue
		case got != need:
			return fmt.Errorf("%s: %v placed, %v needed", t.ID, got, need)
		}
		if len(bs) == 0 {
			continue
		}
		if !t.Splittable && len(bs) != 1 {
			return fmt.Errorf("%s cannot be split but has %d blocks", t.ID, len(bs))
		}
		if t.Splittable && t.MaxSplits > 0 && len(bs)+fixedParts > t.MaxSplits {
			return fmt.Errorf("%s has %d blocks, more than %d", t.ID, len(bs)+fixedParts, t.MaxSplits)
		}
		for _, b := range bs {
			d := b.End.Sub(b.Start)
			if len(bs) > 1 && d < time.Duration(t.MinBlock)*time.Minute {
				return fmt.Errorf("%s has a block of %v, under its minimum", t.ID, d)
			}
			if t.MaxBlock > 0 && t.Splittable && d > time.Duration(t.MaxBlock)*time.Minute {
				return fmt.Errorf("%s has a block of %v, over its maximum", t.ID, d)
			}
		}
		first, last := bs[0].Start, bs[len(bs)-1].End
		if !t.EarliestStart.IsZero() && first.Before(t.EarliestStart) {
			return fmt.Errorf("%s starts %v, before its earliest start %v", t.ID, first, t.EarliestStart)
		}
		if !t.Due.IsZero() && last.After(t.Due) && !p.AllowLate {
			return fmt.Errorf("%s ends %v, after its due date, though late work is not allowed", t.ID, last)
		}
		if last.After(ends[t.ID]) {
			ends[t.ID] = last
		}
	}
	for _, t := range p.Tasks {
		bs := placed[t.ID]
		if len(bs) == 0 {
			continue
		}
		for _, d := range t.DependsOn {
			if _, left := unsched[d]; left {
				return fmt.Errorf("%s is placed but its dependency %s is not", t.ID, d)
			}
			if e, ok := ends[d]; ok && bs[0].Start.Before(e) {
				return fmt.Errorf("%s starts %v, before its dependency %s ends %v", t.ID, bs[0].Start, d, e)
			}
		}
	}
	return nil
}

// working reports whether the slot at s lies in a working range: from the
// first moment the wall clock shows the range's start on its date until
// the first moment it shows its end (found by walking the clock minute by
// minute, so a repeated hour counts once per range and a skipped time
// starts when the clocks change).
func working(p Params, off map[Date]bool, s time.Time) bool {
	loc := p.Location
	for _, back := range []int{0, -1} {
		l := s.In(loc).AddDate(0, 0, back)
		d := Date{l.Year(), l.Month(), l.Day()}
		if off[d] {
			continue
		}
		wd := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
		for _, r := range p.Working[wd] {
			if !firstAt(d, r.Start, loc).After(s) && !s.Add(Slot).After(firstAt(d, r.End, loc)) {
				return true
			}
		}
	}
	return false
}

var firstAtCache sync.Map

func firstAt(d Date, c Clock, loc *time.Location) time.Time {
	type key struct {
		d   Date
		c   Clock
		loc string
	}
	k := key{d, c, loc.String()}
	if v, ok := firstAtCache.Load(k); ok {
		return v.(time.Time)
	}
	t := firstAtScan(d, c, loc)
	firstAtCache.Store(k, t)
	return t
}

func firstAtScan(d Date, c Clock, loc *time.Location) time.Time {
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
	for {
		l := t.In(loc)
		if (Date{l.Year(), l.Month(), l.Day()}) != d || Clock(l.Hour()*60+l.Minute()) >= c {
			return t
		}
		t = t.Add(time.Minute)
	}
}
