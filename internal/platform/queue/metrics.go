package queue

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/platform/db"
)

// metrics turns River's job events into counters and histograms, and counts
// jobs by state when Prometheus scrapes.
type metrics struct {
	db       *db.DB
	finished *prometheus.CounterVec
	run      *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
	depth    *prometheus.Desc
}

func newMetrics(d *db.DB) *metrics {
	return &metrics{
		db: d,
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pulse_queue_jobs_finished_total",
			Help: "Jobs that finished an attempt, by kind and outcome (completed, failed, cancelled, snoozed).",
		}, []string{"kind", "outcome"}),
		run: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_queue_job_run_seconds",
			Help:    "Time a job attempt spent running.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"kind"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pulse_queue_job_wait_seconds",
			Help:    "Time a job waited in the queue before it started.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"kind"}),
		depth: prometheus.NewDesc("pulse_queue_jobs", "Jobs in the queue by state, counted at scrape time.", []string{"state"}, nil),
	}
}

func (m *metrics) consume(events <-chan *river.Event) {
	for ev := range events {
		if ev.Job == nil {
			continue
		}
		outcome := map[river.EventKind]string{
			river.EventKindJobCompleted: "completed",
			river.EventKindJobFailed:    "failed",
			river.EventKindJobCancelled: "cancelled",
			river.EventKindJobSnoozed:   "snoozed",
		}[ev.Kind]
		if outcome == "" {
			continue
		}
		m.finished.WithLabelValues(ev.Job.Kind, outcome).Inc()
		if ev.JobStats != nil {
			m.run.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.RunDuration.Seconds())
			m.wait.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.QueueWaitDuration.Seconds())
		}
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.finished.Describe(ch)
	m.run.Describe(ch)
	m.wait.Describe(ch)
	ch <- m.depth
}

// Collect implements prometheus.Collector. A failed count is left out of the
// scrape rather than failing it: the other metrics still matter then.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.finished.Collect(ch)
	m.run.Collect(ch)
	m.wait.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var rows []struct {
		State string `bun:"state"`
		N     int64  `bun:"n"`
	}
	err := m.db.R.NewSelect().Table("river_job").ColumnExpr("state, count(*) AS n").Group("state").Scan(ctx, &rows)
	if err != nil {
		return
	}
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, float64(r.N), r.State)
	}
}

// Collector returns the queue's Prometheus collector.
func (q *Queue) Collector() prometheus.Collector { return q.metrics }
