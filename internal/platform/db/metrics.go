package db

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// poolCollector reports connection pool use. On PostgreSQL it reads the pgx
// pool, which owns the connections (database/sql's own stats over it are
// meaningless); on SQLite it reads the writer and reader database/sql pools.
type poolCollector struct {
	d                         *DB
	open, inUse, idle, maxOpn *prometheus.Desc
	waits, waitSecs           *prometheus.Desc
}

// Collector returns a Prometheus collector of pool statistics, labelled by
// pool ("main" on PostgreSQL, "writer"/"reader" on SQLite).
func (d *DB) Collector() prometheus.Collector {
	l := []string{"pool"}
	return &poolCollector{
		d:        d,
		open:     prometheus.NewDesc("pulse_db_connections_open", "Open connections.", l, nil),
		inUse:    prometheus.NewDesc("pulse_db_connections_in_use", "Connections in use.", l, nil),
		idle:     prometheus.NewDesc("pulse_db_connections_idle", "Idle connections.", l, nil),
		maxOpn:   prometheus.NewDesc("pulse_db_connections_max", "Maximum connections.", l, nil),
		waits:    prometheus.NewDesc("pulse_db_connection_waits_total", "Times a caller waited for a connection.", l, nil),
		waitSecs: prometheus.NewDesc("pulse_db_connection_wait_seconds_total", "Time spent waiting for connections.", l, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.maxOpn, c.waits, c.waitSecs} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	if c.d.Engine == config.Postgres {
		s := c.d.pool.Stat()
		ch <- prometheus.MustNewConstMetric(c.open, g, float64(s.TotalConns()), "main")
		ch <- prometheus.MustNewConstMetric(c.inUse, g, float64(s.AcquiredConns()), "main")
		ch <- prometheus.MustNewConstMetric(c.idle, g, float64(s.IdleConns()), "main")
		ch <- prometheus.MustNewConstMetric(c.maxOpn, g, float64(s.MaxConns()), "main")
		ch <- prometheus.MustNewConstMetric(c.waits, ctr, float64(s.EmptyAcquireCount()), "main")
		ch <- prometheus.MustNewConstMetric(c.waitSecs, ctr, s.EmptyAcquireWaitTime().Seconds(), "main")
		return
	}
	for name, sdb := range map[string]*sql.DB{"writer": c.d.W.DB, "reader": c.d.R.DB} {
		s := sdb.Stats()
		ch <- prometheus.MustNewConstMetric(c.open, g, float64(s.OpenConnections), name)
		ch <- prometheus.MustNewConstMetric(c.inUse, g, float64(s.InUse), name)
		ch <- prometheus.MustNewConstMetric(c.idle, g, float64(s.Idle), name)
		ch <- prometheus.MustNewConstMetric(c.maxOpn, g, float64(s.MaxOpenConnections), name)
		ch <- prometheus.MustNewConstMetric(c.waits, ctr, float64(s.WaitCount), name)
		ch <- prometheus.MustNewConstMetric(c.waitSecs, ctr, s.WaitDuration.Seconds(), name)
	}
}
