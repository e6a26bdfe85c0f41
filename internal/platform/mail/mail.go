// Package mail sends email: SMTP when configured, otherwise a log mailer that
// writes each message to the log and to an outbox folder, so development
// needs no mail server. Messages are queued as jobs (SendTx) so they survive
// restarts, are retried, and are only sent if the change that caused them
// commits. Bodies are vault-encrypted in the queue: they carry secrets (a
// password reset link).
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/pulse-run/pulse/internal/platform/ids"
)

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender delivers a message now.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// LogSender writes messages to the log and, as .eml files, to Dir.
type LogSender struct {
	From   string
	Dir    string
	Logger *slog.Logger
}

// Send implements Sender.
func (s *LogSender) Send(ctx context.Context, m Message) error {
	s.Logger.InfoContext(ctx, "email (log mailer: set PULSE_SMTP_URL to deliver)", "to", m.To, "subject", m.Subject, "text", m.Text)
	if s.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	name := time.Now().UTC().Format("20060102T150405Z") + "-" + ids.New() + ".eml"
	eml := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		s.From, m.To, m.Subject, time.Now().UTC().Format(time.RFC1123Z), strings.ReplaceAll(m.Text, "\n", "\r\n"))
	return os.WriteFile(filepath.Join(s.Dir, name), []byte(eml), 0o600)
}

// SMTPSender delivers through an SMTP server.
type SMTPSender struct {
	from string
	opts []gomail.Option
	host string
}

// NewSMTP parses an SMTP URL: smtp://user:pass@host:587 (STARTTLS
// required), smtps://user:pass@host:465 (implicit TLS), or
// smtp://host:25?tls=none for a local relay.
func NewSMTP(rawURL, from string) (*SMTPSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, errors.New("want smtp://user:pass@host:port or smtps://…")
	}
	s := &SMTPSender{from: from, host: u.Hostname(), opts: []gomail.Option{gomail.WithTimeout(30 * time.Second)}}
	if p := u.Port(); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", p)
		}
		s.opts = append(s.opts, gomail.WithPort(port))
	}
	switch {
	case u.Scheme == "smtps":
		s.opts = append(s.opts, gomail.WithSSL())
	case u.Query().Get("tls") == "none":
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		s.opts = append(s.opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	return s, nil
}

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}
