package mail_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/mail"
	"github.com/pulse-run/pulse/internal/platform/queue"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

// fakeSMTP accepts one connection at a time and records each DATA payload,
// speaking enough of RFC 5321 for a real client.
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func startSMTP(t *testing.T) *fakeSMTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &fakeSMTP{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	w("220 fake ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			w("250-fake")
			w("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			w("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			s.mu.Lock()
			s.rcpt = append(s.rcpt, strings.TrimSpace(line[8:]))
			s.mu.Unlock()
			w("250 ok")
		case cmd == "DATA":
			w("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			w("250 queued")
		case cmd == "QUIT":
			w("221 bye")
			return
		case cmd == "RSET", cmd == "NOOP":
			w("250 ok")
		default:
			w("502 not implemented")
		}
	}
}

func TestSMTPSender(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t)
	s, err := mail.NewSMTP("smtp://"+srv.ln.Addr().String()+"?tls=none", "Pulse <noreply@pulse.test>")
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), mail.Message{To: "ada@example.com", Subject: "Reset your password", Text: "Follow https://app.test/reset?token=abc"}))
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Len(t, srv.msgs, 1)
	require.Contains(t, srv.rcpt[0], "ada@example.com")
	require.Contains(t, srv.msgs[0], "Subject: Reset your password")
	body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(srv.msgs[0][strings.Index(srv.msgs[0], "\r\n\r\n"):])))
	require.NoError(t, err)
	require.Contains(t, string(body), "https://app.test/reset?token=abc")

	for _, bad := range []string{"http://x", "smtp://", "mailto:x@y", "smtp://h:port"} {
		_, err := mail.NewSMTP(bad, "a@b.c")
		require.Error(t, err, bad)
	}
}

func TestLogSenderWritesOutbox(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var logs strings.Builder
	s := &mail.LogSender{From: "noreply@pulse.test", Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	require.NoError(t, s.Send(context.Background(), mail.Message{To: "ada@example.com", Subject: "Hi", Text: "line 1\nline 2"}))
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	b, err := os.ReadFile(files[0])
	require.NoError(t, err)
	require.Contains(t, string(b), "To: ada@example.com\r\n")
	require.Contains(t, string(b), "line 1\r\nline 2")
	require.Contains(t, logs.String(), "ada@example.com")
}

type recorder struct {
	mu   sync.Mutex
	got  []mail.Message
	fail int // fail this many sends first
	sent chan struct{}
}

func (r *recorder) Send(_ context.Context, m mail.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("mail server busy")
	}
	r.got = append(r.got, m)
	r.sent <- struct{}{}
	return nil
}

// Messages go through the queue: only after commit, retried on failure,
// and never stored in clear.
func TestOutbox(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		_, err := queue.Migrate(ctx, d, nil)
		require.NoError(t, err)
		v, err := vault.Open(ctx, d, "mail-test-secret-0123456789abcdef0123")
		require.NoError(t, err)
		rec := &recorder{sent: make(chan struct{}, 10)}
		workers := river.NewWorkers()
		mail.AddWorker(workers, rec, v)
		q, err := queue.New(queue.Params{DB: d, Workers: workers, FetchPollInterval: 100 * time.Millisecond})
		require.NoError(t, err)
		box := mail.NewOutbox(q, v, ids.New)

		require.Error(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			require.NoError(t, box.SendTx(ctx, tx, mail.Message{To: "never@example.com", Subject: "x", Text: "rolled back"}))
			return errors.New("rollback")
		}))
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			return box.SendTx(ctx, tx, mail.Message{To: "ada@example.com", Subject: "Verify", Text: "secret-link-123"})
		}))
		var args string
		require.NoError(t, d.R.NewSelect().Table("river_job").Column("args").Where("kind = 'pulse.mail.send'").Scan(ctx, &args))
		require.NotContains(t, args, "secret-link-123", "the body is encrypted in the queue")

		require.NoError(t, q.Start(ctx))
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = q.Stop(stop)
		})
		select {
		case <-rec.sent:
		case <-time.After(20 * time.Second):
			t.Fatal("mail not sent")
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		require.Len(t, rec.got, 1)
		require.Equal(t, "ada@example.com", rec.got[0].To)
		require.Equal(t, "secret-link-123", rec.got[0].Text)
	})
}
