package schedule

import (
	"iter"
	"slices"
)

// base is the board before the search places anything: Fixed blocks and,
// when re-planning, the previous blocks that are kept.
type base struct {
	owner []int32
	used  []int32
	free  []int32
	kept  [][]span // per job; nil when it is placed afresh
}

// eager marks a job in an order that is placed in its turn even if it
// finishes late, rather than after every job that can still be on time.
// Late work is then as short as it can be where that costs nobody a
// deadline.
const eager = 1 << 30

// solution is one schedule: the blocks of every job, built by decode from
// an order.
type solution struct {
	order  []int
	blocks [][]span
	placed []bool
	cost   Cost
}

// Solve builds a schedule. It never reads the clock: Params.Now is "now",
// and the search is bounded by Params.Effort, not by time, so the same
// Params give the same Result on any machine.
func Solve(p Params) (*Result, error) {
	if err := Validate(&p); err != nil {
		return nil, err
	}
	if !p.ScopeStart.IsZero() || !p.ScopeEnd.IsZero() {
		// Outside the scope the current plan is fixed.
		var in []Block
		p.Fixed = slices.Clip(p.Fixed)
		for _, b := range p.Previous {
			if (!p.ScopeStart.IsZero() && b.Start.Before(p.ScopeStart)) || (!p.ScopeEnd.IsZero() && b.End.After(p.ScopeEnd)) {
				p.Fixed = append(p.Fixed, b)
			} else {
				in = append(in, b)
			}
		}
		p.Previous = in
	}
	pb, err := newProblem(&p)
	if err != nil {
		return nil, err
	}
	budget := p.Effort
	if budget <= 0 {
		budget = DefaultEffort
	}
	edf := pb.edf()
	plain := &base{owner: pb.owner0, used: pb.used0, free: pb.free0, kept: make([][]span, len(pb.jobs))}
	bs := plain
	evals := 0
	var sol *solution
	if len(p.Previous) > 0 && !p.Fresh {
		// Keep what still fits. If that leaves a deadline missed or a task
		// out, free the kept tasks in its way, then try a fresh plan; take
		// the first that misses fewest deadlines and leaves out least.
		// Lateness alone is not worth moving the user's calendar around.
		kb := pb.keep(edf)
		sol, evals = pb.search(kb, pb.open(kb, edf), budget/3)
		bs = kb
		if bad := pb.bad(sol); len(bad) > 0 {
			ub := pb.unkeep(kb, sol, bad)
			u, nu := pb.search(ub, pb.open(ub, edf), budget/3)
			f, nf := pb.search(plain, pb.open(plain, edf), budget/3)
			evals += nu + nf
			if u.cost.urgentLess(sol.cost) {
				sol, bs = u, ub
			}
			if f.cost.urgentLess(sol.cost) {
				sol, bs = f, plain
			}
		}
	} else {
		sol, evals = pb.search(plain, pb.open(plain, edf), budget)
	}
	sol = pb.polish(bs, sol)
	return pb.result(bs, sol, evals), nil
}

// open lists the jobs the search places, in order: those with time left
// that are not kept.
func (pb *problem) open(bs *base, order []int) []int {
	out := make([]int, 0, len(order))
	for _, j := range order {
		if pb.jobs[j].shape.d > 0 && bs.kept[j] == nil {
			out = append(out, j)
		}
	}
	return out
}

// decode places jobs in order, each as early as it fits. A job that would
// miss its due date is set aside and placed after everything else (if
// late work is allowed), so it takes no time from jobs that can still
// make theirs: the order decides who gets the scarce time.
func (pb *problem) decode(bs *base, order []int) *solution {
	b := &pb.b
	copy(b.owner, bs.owner)
	copy(b.used, bs.used)
	copy(b.free, bs.free)
	b.tracking(true)
	defer b.tracking(false)
	// Copying the board, walking the order and costing the result are work
	// too; count them so the budget tracks time.
	b.steps += len(b.owner)/2 + 40*len(pb.jobs)
	sol := &solution{order: order, blocks: make([][]span, len(pb.jobs)), placed: make([]bool, len(pb.jobs))}
	for j := range pb.jobs {
		if bs.kept[j] != nil {
			sol.blocks[j], sol.placed[j] = bs.kept[j], true
		} else if pb.jobs[j].shape.d == 0 {
			sol.placed[j] = true
		}
	}
	var later []int
	for _, o := range order {
		j := o &^ eager
		jb := &pb.jobs[j]
		lo, ready := pb.release(sol, j)
		if !ready {
			later = append(later, j)
			continue
		}
		hi := pb.n
		if jb.hasDue && o&eager == 0 {
			hi = min(hi, jb.due)
		}
		if sps, ok := b.placeEarliest(j, jb.shape, lo, hi, nil); ok {
			sol.blocks[j], sol.placed[j] = sps, true
		} else if jb.hasDue && pb.p.AllowLate && o&eager == 0 {
			later = append(later, j)
		}
	}
	for _, j := range later {
		jb := &pb.jobs[j]
		lo, ready := pb.release(sol, j)
		if !ready {
			continue
		}
		hi := pb.n
		if jb.hasDue && !pb.p.AllowLate {
			hi = min(hi, jb.due)
		}
		if sps, ok := b.placeEarliest(j, jb.shape, lo, hi, nil); ok {
			sol.blocks[j], sol.placed[j] = sps, true
		}
	}
	sol.cost = pb.cost(sol)
	return sol
}

// release is the first slot job j may use given its dependencies, and
// whether they are all placed.
func (pb *problem) release(sol *solution, j int) (int, bool) {
	lo := pb.jobs[j].rel
	for _, k := range pb.jobs[j].deps {
		if !sol.placed[k] {
			return 0, false
		}
		lo = max(lo, pb.end(sol, k))
	}
	return lo, true
}

// end is the slot at which job j's last block ends.
func (pb *problem) end(sol *solution, j int) int {
	e := pb.jobs[j].fixedEnd
	if sps := sol.blocks[j]; len(sps) > 0 {
		e = max(e, sps[len(sps)-1].e)
	}
	return e
}

func (pb *problem) cost(sol *solution) Cost {
	var c Cost
	for j := range pb.jobs {
		jb := &pb.jobs[j]
		if !sol.placed[j] {
			c.Unscheduled += jb.w
			if jb.hasDue {
				c.Missed++
			}
			continue
		}
		end := pb.end(sol, j)
		if jb.hasDue && end > jb.due {
			c.Missed++
			c.Lateness += jb.w * (end - jb.due) * int(Slot.Minutes())
		}
		for _, sp := range sol.blocks[j] {
			c.Fragments++
			if jb.fit {
				for i := sp.s; i < sp.e; i++ {
					c.Misfit += pb.misfit(jb, i)
				}
			}
		}
		c.Finish += jb.w * end
	}
	return c
}

// search improves an order by moving jobs that miss their due date (or
// are left out) ahead of the jobs holding their time, and by sending
// those jobs to the back, keeping any change that lowers the cost. It
// stops at a local optimum or when the budget of slot steps is spent.
func (pb *problem) search(bs *base, order []int, budget int) (*solution, int) {
	start := pb.b.steps
	best := pb.decode(bs, order)
	evals := 1
	spent := func() bool { return pb.b.steps-start >= budget }
	// first decodes candidates until one beats best; false when none does
	// or the budget is spent.
	first := func(cands iter.Seq[[]int]) bool {
		for cand := range cands {
			if spent() {
				return false
			}
			s := pb.decode(bs, cand)
			evals++
			if s.cost.Less(best.cost) {
				best = s
				return true
			}
		}
		return false
	}
	for {
		improved := false
		for _, m := range pb.bad(best) {
			if improved = first(pb.moves(best, m)); improved || spent() {
				break
			}
		}
		if !improved && !spent() && len(best.order) <= shuffleLimit {
			improved = first(pb.shifts(best.order))
		}
		if !improved || spent() {
			return best, evals
		}
	}
}

// shuffleLimit is the size up to which the search, stuck, tries moving
// every job to every position: a move of a job that misses nothing can
// free the time another needs.
const shuffleLimit = 12

// shifts yields every order with one job moved to another position that
// keeps dependencies first.
func (pb *problem) shifts(order []int) iter.Seq[[]int] {
	return func(yield func([]int) bool) {
		pos := make([]int, len(pb.jobs))
		for i := range pos {
			pos[i] = -1
		}
		for x, o := range order {
			pos[o&^eager] = x
		}
		for x, o := range order {
			j := o &^ eager
			lo, hi := 0, len(order)-1
			for _, k := range pb.jobs[j].deps {
				lo = max(lo, pos[k]+1)
			}
			for _, k := range pb.jobs[j].succ {
				if pos[k] >= 0 {
					hi = min(hi, pos[k]-1)
				}
			}
			for p := lo; p <= hi; p++ {
				if p == x {
					continue
				}
				c := make([]int, 0, len(order))
				c = append(c, order[:x]...)
				c = append(c, order[x+1:]...)
				c = slices.Insert(c, p, o)
				if !yield(c) {
					return
				}
			}
		}
	}
}

// bad lists the jobs that miss their due date or are left out, the
// heaviest first.
func (pb *problem) bad(sol *solution) []int {
	var out []int
	for _, o := range sol.order {
		j := o &^ eager
		jb := &pb.jobs[j]
		if !sol.placed[j] || (jb.hasDue && pb.end(sol, j) > jb.due) {
			out = append(out, j)
		}
	}
	slices.SortStableFunc(out, func(a, b int) int { return pb.jobs[b].w - pb.jobs[a].w })
	return out
}

// moves yields orders to try for a bad job m: m placed just before each
// job that holds time in its window (the latest first), each such job
// sent to the back, and on small problems every earlier position. When
// late work is allowed, each placement is also tried eager, so m may be
// late by less where others have slack. Orders are built only when
// asked for: the search usually stops at an early one.
func (pb *problem) moves(sol *solution, m int) iter.Seq[[]int] {
	return func(yield func([]int) bool) {
		order := sol.order
		pos := make([]int, len(pb.jobs))
		for i := range pos {
			pos[i] = -1
		}
		for x, o := range order {
			pos[o&^eager] = x
		}
		q := pos[m]
		floor := -1
		for _, k := range pb.jobs[m].deps {
			floor = max(floor, pos[k])
		}
		lo, hi := pb.jobs[m].rel, pb.n
		if pb.jobs[m].hasDue {
			hi = min(hi, pb.jobs[m].due)
		}
		var blockers []int
		for x := q - 1; x > floor; x-- {
			for _, sp := range sol.blocks[order[x]&^eager] {
				if sp.s < hi && sp.e > lo {
					blockers = append(blockers, x)
					break
				}
			}
		}
		flags := []int{0}
		if pb.p.AllowLate && pb.jobs[m].hasDue {
			flags = append(flags, eager)
		}
		seen := map[int]bool{}
		insert := func(p, flag int) bool {
			if seen[p*2+flag/eager] || (p == q && order[q] == m|flag) {
				return true
			}
			seen[p*2+flag/eager] = true
			o := make([]int, 0, len(order))
			for x, e := range order {
				if x == p {
					o = append(o, m|flag)
				}
				if e&^eager != m {
					o = append(o, e)
				}
			}
			return yield(o)
		}
		for _, f := range flags {
			if !insert(q, f) {
				return
			}
		}
		for _, x := range blockers {
			for _, f := range flags {
				if !insert(x, f) {
					return
				}
			}
		}
		for _, x := range blockers {
			k := order[x] &^ eager
			if len(pb.jobs[k].succ) > 0 {
				continue
			}
			o := make([]int, 0, len(order))
			for _, e := range order {
				if e&^eager != k {
					o = append(o, e)
				}
			}
			if !yield(append(o, order[x])) {
				return
			}
		}
		if len(order) <= 12 {
			for x := q - 1; x > floor; x-- {
				for _, f := range flags {
					if !insert(x, f) {
						return
					}
				}
			}
		}
	}
}

// polish moves each block-holding job, last first, to where it suits the
// user's focus periods and its own windows better, or into fewer blocks,
// without letting it finish later than its due date or its dependents'
// start. Other jobs keep their blocks, so no deadline can be lost.
func (pb *problem) polish(bs *base, sol *solution) *solution {
	sol = pb.decode(bs, sol.order) // puts it on the board
	b := &pb.b
	for x := len(sol.order) - 1; x >= 0; x-- {
		j := sol.order[x] &^ eager
		jb := &pb.jobs[j]
		old := sol.blocks[j]
		if len(old) == 0 || (jb.hasDue && old[len(old)-1].e > jb.due) {
			continue
		}
		refit := jb.fit && pb.fitOf(jb, old) > 0
		if !refit && len(old) == 1 {
			continue
		}
		lo, _ := pb.release(sol, j)
		hi := pb.n
		if jb.hasDue {
			hi = min(hi, jb.due)
		}
		for _, s := range jb.succ {
			if sps := sol.blocks[s]; len(sps) > 0 {
				hi = min(hi, sps[0].s)
			}
		}
		for _, sp := range old {
			b.clear(sp)
		}
		best := old
		try := func(sps []span, ok bool) {
			if !ok {
				return
			}
			if pb.better(jb, sps, best) {
				best = sps
			}
			for _, sp := range sps {
				b.clear(sp)
			}
		}
		if refit {
			try(pb.bestFit(j, lo, hi))
		}
		for k := 1; k < len(old); k++ {
			sh := jb.shape
			sh.parts = k
			if k == 1 {
				if sh.maxB > 0 && sh.d > sh.maxB {
					continue
				}
				sh.split = false
			}
			try(b.placeEarliest(j, sh, lo, hi, nil))
		}
		for _, sp := range best {
			b.fill(j, sp)
		}
		sol.blocks[j] = best
	}
	sol.cost = pb.cost(sol)
	return sol
}

func (pb *problem) fitOf(jb *job, sps []span) int {
	m := 0
	for _, sp := range sps {
		for i := sp.s; i < sp.e; i++ {
			m += pb.misfit(jb, i)
		}
	}
	return m
}

// better compares two placements of one job on the levels polish may
// change: fit, then fragments, then finish.
func (pb *problem) better(jb *job, a, b []span) bool {
	fa, fb := pb.fitOf(jb, a), pb.fitOf(jb, b)
	if fa != fb {
		return fa < fb
	}
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a[len(a)-1].e < b[len(b)-1].e
}

// bestFit places job j in [lo, hi) where it fits best: for one block, the
// start with the least misfit (earliest among equals); for a splittable
// job, as early as it goes using only slots that suit it.
func (pb *problem) bestFit(j, lo, hi int) ([]span, bool) {
	b := &pb.b
	jb := &pb.jobs[j]
	if jb.shape.split {
		return b.placeEarliest(j, jb.shape, lo, hi, func(i int) bool { return pb.misfit(jb, i) == 0 })
	}
	d := jb.shape.d
	best, bestFit := -1, 0
	run, sum := 0, 0
	for i := max(lo, 0); i < hi; i++ {
		b.steps++
		if b.skip(i) {
			run, sum = 0, 0
			i = b.next[b.day[i]] - 1
			continue
		}
		if !b.usable(i) {
			run, sum = 0, 0
			continue
		}
		run++
		sum += pb.misfit(jb, i)
		if run > d {
			sum -= pb.misfit(jb, i-d)
		}
		if run >= d && (best < 0 || sum < bestFit) {
			sp := span{i - d + 1, i + 1}
			if b.clearBefore(sp.s, j) && b.clearAfter(sp.e, j) && b.capOK(sp.s, sp.e) {
				best, bestFit = sp.s, sum
				if sum == 0 {
					break
				}
			}
		}
	}
	if best < 0 {
		return nil, false
	}
	sp := span{best, best + d}
	b.fill(j, sp)
	return []span{sp}, true
}

// keep finds the previous blocks that are still valid: the task's time is
// unchanged, every block is free, in working hours, inside its window and
// its size limits, and its dependencies are kept too. Jobs are checked in
// dependency order so a dependent sees its dependencies' verdict.
func (pb *problem) keep(order []int) *base {
	bs := &base{owner: slices.Clone(pb.owner0), used: slices.Clone(pb.used0), free: slices.Clone(pb.free0), kept: make([][]span, len(pb.jobs))}
	prev := make([][]span, len(pb.jobs))
	for _, blk := range pb.p.Previous {
		if k, ok := pb.byID[blk.TaskID]; ok {
			prev[k] = append(prev[k], span{pb.floor(blk.Start), pb.ceil(blk.End)})
		}
	}
	b := pb.b
	b.owner, b.used, b.free = bs.owner, bs.used, bs.free
	for _, j := range order {
		sps := prev[j]
		jb := &pb.jobs[j]
		if len(sps) == 0 || jb.shape.d == 0 {
			continue
		}
		slices.SortFunc(sps, func(a, b span) int { return a.s - b.s })
		if !pb.keepable(bs, j, sps) {
			continue
		}
		var filled []span
		for _, sp := range sps {
			if !b.fits(j, sp) {
				break
			}
			b.fill(j, sp)
			filled = append(filled, sp)
		}
		if len(filled) < len(sps) {
			for _, sp := range filled {
				b.clear(sp)
			}
			continue
		}
		bs.kept[j] = sps
	}
	return bs
}

// unkeep frees the kept jobs holding time that a late or left-out job
// could use, and the kept jobs that depend on them.
func (pb *problem) unkeep(bs *base, sol *solution, bad []int) *base {
	kept := slices.Clone(bs.kept)
	var drop func(k int)
	drop = func(k int) {
		if kept[k] == nil {
			return
		}
		kept[k] = nil
		for _, s := range pb.jobs[k].succ {
			drop(s)
		}
	}
	for _, m := range bad {
		lo, hi := pb.jobs[m].rel, pb.n
		if pb.jobs[m].hasDue {
			hi = min(hi, pb.jobs[m].due)
		}
		for k, sps := range kept {
			if slices.ContainsFunc(sps, func(sp span) bool { return sp.s < hi && sp.e > lo }) {
				drop(k)
			}
		}
	}
	nb := &base{owner: slices.Clone(pb.owner0), used: slices.Clone(pb.used0), free: slices.Clone(pb.free0), kept: kept}
	b := pb.b
	b.owner, b.used, b.free = nb.owner, nb.used, nb.free
	for k, sps := range kept {
		for _, sp := range sps {
			b.fill(k, sp)
		}
	}
	return nb
}

// keepable checks a job's previous blocks against its own rules.
func (pb *problem) keepable(bs *base, j int, sps []span) bool {
	jb := &pb.jobs[j]
	sh := jb.shape
	total := 0
	for _, sp := range sps {
		l := sp.e - sp.s
		total += l
		if len(sps) > 1 && (l < sh.minB || (sh.maxB > 0 && l > sh.maxB)) {
			return false
		}
	}
	if total != sh.d || len(sps) > sh.parts {
		return false
	}
	lo := jb.rel
	for _, k := range jb.deps {
		dk := &pb.jobs[k]
		switch {
		case bs.kept[k] != nil:
			lo = max(lo, bs.kept[k][len(bs.kept[k])-1].e)
		case dk.shape.d == 0:
			lo = max(lo, dk.fixedEnd)
		default:
			return false
		}
	}
	last := sps[len(sps)-1].e
	return sps[0].s >= lo && last <= pb.n && (!jb.hasDue || last <= jb.due)
}
