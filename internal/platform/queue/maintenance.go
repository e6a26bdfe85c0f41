package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// MaintenanceArgs is the periodic job that removes expired rows.
type MaintenanceArgs struct{}

// Kind names the job in the river_job table.
func (MaintenanceArgs) Kind() string { return "pulse.maintenance" }

// InsertOpts bounds retries: the next period runs it again anyway.
func (MaintenanceArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

// Pruner removes every expired row of one kind and says how many it removed.
// Features contribute pruners; internal/app hands them to the queue.
type Pruner struct {
	Name  string
	Prune func(ctx context.Context) (int64, error)
}

// MaintenanceWorker runs every pruner and records the counts as the job's
// output, so an operator can see what each run removed.
type MaintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	Pruners []Pruner
	Logger  *slog.Logger
}

// Work runs each pruner; one failing does not stop the others.
func (w *MaintenanceWorker) Work(ctx context.Context, _ *river.Job[MaintenanceArgs]) error {
	out := make(map[string]int64, len(w.Pruners))
	var errs []error
	for _, p := range w.Pruners {
		n, err := p.Prune(ctx)
		out[p.Name] = n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	if w.Logger != nil {
		w.Logger.InfoContext(ctx, "maintenance pruned expired rows", "pruned", out)
	}
	if err := river.RecordOutput(ctx, out); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// AddMaintenance registers the maintenance worker and returns its periodic
// job, which runs once at start and then every interval. Only the elected
// leader among processes enqueues periodic jobs, so a cluster runs it once.
func AddMaintenance(workers *river.Workers, interval time.Duration, log *slog.Logger, pruners ...Pruner) *river.PeriodicJob {
	river.AddWorker(workers, &MaintenanceWorker{Pruners: pruners, Logger: log})
	return MaintenanceJob(interval)
}

// MaintenanceJob is the maintenance worker's periodic job alone, for a
// process that builds the queue before the services whose pruners the
// worker (registered later, before the queue starts) calls.
func MaintenanceJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return MaintenanceArgs{}, nil },
		&river.PeriodicJobOpts{ID: "pulse.maintenance", RunOnStart: true},
	)
}
