package schedule

import (
	"cmp"
	"container/heap"
	"slices"
	"time"
)

const unlimited = 1 << 20

// job is a task in slots.
type job struct {
	t        *Task
	shape    shape
	rel      int // the first slot it may use
	due      int // the slot it must end by, when hasDue
	hasDue   bool
	w        int
	deps     []int
	succ     []int
	fixed    []span // its Fixed blocks
	fixedEnd int    // the end of its last Fixed block, or -1
	effDue   int    // due tightened by its dependents' needs
	fit      bool   // some slots suit it better than others
}

// problem is Params in slots: built once, then solved.
type problem struct {
	p      *Params
	g      *Grid
	n      int
	jobs   []job
	byID   map[string]int
	avail  []bool
	owner0 []int32 // the board with Fixed blocks only
	used0  []int32
	free0  []int32
	wd     []time.Weekday // local weekday of each slot
	clk    []Clock        // local time of each slot
	focus  []bool         // nil when there are no focus periods
	b      board
}

func newProblem(p *Params) (*problem, error) {
	start := p.Start
	if start.IsZero() {
		start = p.Now
	}
	g, err := NewGrid(GridParams{Start: start, End: p.End, Location: p.Location, Working: p.Working, DaysOff: p.DaysOff, Busy: p.Busy})
	if err != nil {
		return nil, err
	}
	n := len(g.Free)
	pb := &problem{p: p, g: g, n: n, byID: make(map[string]int, len(p.Tasks))}
	pb.wd = make([]time.Weekday, n)
	pb.clk = make([]Clock, n)
	for i := range n {
		l := g.At(i).In(p.Location)
		pb.wd[i] = l.Weekday()
		pb.clk[i] = Clock(l.Hour()*60 + l.Minute())
	}
	if hasRanges(p.Focus) {
		pb.focus = make([]bool, n)
		for i := range n {
			for _, r := range p.Focus[pb.wd[i]] {
				if pb.clk[i] >= r.Start && pb.clk[i] < r.End {
					pb.focus[i] = true
				}
			}
		}
	}
	// Free slots from now on, inside the scope.
	now := pb.ceil(p.Now)
	lo, hi := now, n
	if !p.ScopeStart.IsZero() {
		lo = max(lo, pb.ceil(p.ScopeStart))
	}
	if !p.ScopeEnd.IsZero() {
		hi = min(hi, pb.floor(p.ScopeEnd))
	}
	pb.avail = make([]bool, n)
	for i := max(lo, 0); i < hi; i++ {
		pb.avail[i] = g.Free[i]
	}
	days := 1
	if n > 0 {
		days = g.Day[n-1] + 1
	}
	day := make([]int32, n)
	for i, d := range g.Day {
		day[i] = int32(d)
	}
	pb.owner0 = make([]int32, n)
	pb.used0 = make([]int32, days)
	pb.b = board{avail: pb.avail, day: day, owner: make([]int32, n), used: make([]int32, days),
		cap: int32(p.DailyCap / Slot), brk: int(ceilDiv(p.Break, Slot))}

	for i := range p.Tasks {
		pb.byID[p.Tasks[i].ID] = i
	}
	pb.jobs = make([]job, len(p.Tasks))
	for i := range p.Tasks {
		t := &p.Tasks[i]
		j := &pb.jobs[i]
		j.t = t
		j.w = int(cmp.Or(t.Priority, Medium))
		j.rel = max(now, lo)
		if !t.EarliestStart.IsZero() {
			j.rel = max(j.rel, pb.ceil(t.EarliestStart))
		}
		if !t.Due.IsZero() {
			j.hasDue, j.due = true, pb.floor(t.Due)
		}
		j.fit = pb.focus != nil || len(t.Preferred) > 0 || len(t.Avoid) > 0
		j.fixedEnd = -1
		for _, d := range t.DependsOn {
			if k, ok := pb.byID[d]; ok && k != i && !slices.Contains(j.deps, k) {
				j.deps = append(j.deps, k)
			}
		}
	}
	for i := range pb.jobs {
		for _, k := range pb.jobs[i].deps {
			pb.jobs[k].succ = append(pb.jobs[k].succ, i)
		}
	}
	// Fixed blocks: on the board, and counted toward their task.
	for _, fb := range p.Fixed {
		full := span{pb.floor(fb.Start), pb.ceil(fb.End)}
		mark := int32(-1)
		if k, ok := pb.byID[fb.TaskID]; ok {
			mark = int32(k + 1)
			pb.jobs[k].fixed = append(pb.jobs[k].fixed, full)
		}
		for i := max(full.s, 0); i < min(full.e, n); i++ {
			if pb.owner0[i] == 0 {
				pb.used0[day[i]]++
			}
			pb.owner0[i] = mark
		}
	}
	for i := range pb.jobs {
		j := &pb.jobs[i]
		t := j.t
		done := 0
		for _, sp := range j.fixed {
			done += sp.e - sp.s
			j.fixedEnd = max(j.fixedEnd, sp.e)
		}
		d := max(int(ceilDiv(time.Duration(t.Minutes)*time.Minute, Slot))-done, 0)
		sh := shape{d: d, parts: unlimited, split: t.Splittable}
		sh.minB = max(int(ceilDiv(time.Duration(t.MinBlock)*time.Minute, Slot)), 1)
		if t.MaxBlock > 0 {
			sh.maxB = max(int(time.Duration(t.MaxBlock)*time.Minute/Slot), 1)
		}
		if !t.Splittable {
			sh.parts = 1
		} else if t.MaxSplits > 0 {
			sh.parts = max(t.MaxSplits-len(j.fixed), 0)
		}
		j.shape = sh
	}
	pb.free0 = make([]int32, days)
	for i := range n {
		if pb.avail[i] && pb.owner0[i] == 0 {
			pb.free0[day[i]]++
		}
	}
	pb.b.free = make([]int32, days)
	pb.b.next = make([]int, days)
	for i := range n {
		pb.b.next[day[i]] = i + 1
	}
	pb.b.solo = make([]bool, len(pb.jobs))
	for i := range pb.jobs {
		pb.b.solo[i] = len(pb.jobs[i].fixed) == 0
	}
	pb.effectiveDues()
	return pb, nil
}

func hasRanges(w Week) bool {
	for _, rs := range w {
		if len(rs) > 0 {
			return true
		}
	}
	return false
}

// floor and ceil map an instant to a slot boundary.
func (pb *problem) floor(t time.Time) int { return floorDiv(t.Sub(pb.g.Origin), Slot) }
func (pb *problem) ceil(t time.Time) int  { return ceilDiv(t.Sub(pb.g.Origin), Slot) }

// effectiveDues tightens each due date by what its dependents need after
// it, so ordering by due date also orders by dependency.
func (pb *problem) effectiveDues() {
	for i := range pb.jobs {
		pb.jobs[i].effDue = unlimited
		if pb.jobs[i].hasDue {
			pb.jobs[i].effDue = pb.jobs[i].due
		}
	}
	order := pb.topo(nil)
	for x := len(order) - 1; x >= 0; x-- {
		j := &pb.jobs[order[x]]
		for _, s := range j.succ {
			j.effDue = min(j.effDue, pb.jobs[s].effDue-pb.jobs[s].shape.d)
		}
	}
}

// topo orders jobs so that dependencies come first; among ready jobs it
// takes the smallest by less (index order when nil). Jobs in a cycle are
// left out: Validate refuses cycles before this runs.
func (pb *problem) topo(less func(a, b int) bool) []int {
	if less == nil {
		less = func(a, b int) bool { return a < b }
	}
	indeg := make([]int, len(pb.jobs))
	for i := range pb.jobs {
		indeg[i] = len(pb.jobs[i].deps)
	}
	h := &readyHeap{less: less}
	for i, d := range indeg {
		if d == 0 {
			h.items = append(h.items, i)
		}
	}
	heap.Init(h)
	out := make([]int, 0, len(pb.jobs))
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		out = append(out, i)
		for _, s := range pb.jobs[i].succ {
			if indeg[s]--; indeg[s] == 0 {
				heap.Push(h, s)
			}
		}
	}
	return out
}

type readyHeap struct {
	items []int
	less  func(a, b int) bool
}

func (h *readyHeap) Len() int           { return len(h.items) }
func (h *readyHeap) Less(a, b int) bool { return h.less(h.items[a], h.items[b]) }
func (h *readyHeap) Swap(a, b int)      { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *readyHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *readyHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// edf is the construction order: earliest effective due date, then least
// slack, then highest priority, then input order.
func (pb *problem) edf() []int {
	return pb.topo(func(a, b int) bool {
		ja, jb := &pb.jobs[a], &pb.jobs[b]
		if ja.effDue != jb.effDue {
			return ja.effDue < jb.effDue
		}
		sa, sb := ja.effDue-ja.rel-ja.shape.d, jb.effDue-jb.rel-jb.shape.d
		if sa != sb {
			return sa < sb
		}
		if ja.w != jb.w {
			return ja.w > jb.w
		}
		return a < b
	})
}

// misfit is how badly slot i suits job j.
func (pb *problem) misfit(j *job, i int) int {
	if !j.fit {
		return 0
	}
	m := 0
	if pb.focus != nil && !pb.focus[i] {
		m++
	}
	if len(j.t.Preferred) > 0 && !pb.inWindows(j.t.Preferred, i) {
		m++
	}
	if pb.inWindows(j.t.Avoid, i) {
		m += 3
	}
	return m
}

func (pb *problem) inWindows(ws []Window, i int) bool {
	for _, w := range ws {
		if w.Weekday == pb.wd[i] && pb.clk[i] >= w.Start && pb.clk[i] < w.End {
			return true
		}
	}
	return false
}
