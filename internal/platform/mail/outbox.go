package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/queue"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

// sendArgs is the job that delivers one message.
type sendArgs struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	TextEnc string `json:"text_enc"` // vault-encrypted body
}

func (sendArgs) Kind() string { return "pulse.mail.send" }

// InsertOpts: mail servers have bad minutes; retry for about a day.
func (sendArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 20} }

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	sender Sender
	vault  *vault.Vault
}

func (w *sendWorker) Work(ctx context.Context, j *river.Job[sendArgs]) error {
	text, err := w.vault.Decrypt(ctx, j.Args.TextEnc, "mail:"+j.Args.ID)
	if err != nil {
		return river.JobCancel(fmt.Errorf("mail: body cannot be decrypted: %w", err))
	}
	return w.sender.Send(ctx, Message{To: j.Args.To, Subject: j.Args.Subject, Text: string(text)})
}

func (w *sendWorker) Timeout(*river.Job[sendArgs]) time.Duration { return time.Minute }

// AddWorker registers the delivery job with sender.
func AddWorker(workers *river.Workers, sender Sender, v *vault.Vault) {
	river.AddWorker(workers, &sendWorker{sender: sender, vault: v})
}

// Outbox queues messages for delivery.
type Outbox struct {
	q     *queue.Queue
	vault *vault.Vault
	newID func() string
}

// NewOutbox returns an outbox on q.
func NewOutbox(q *queue.Queue, v *vault.Vault, newID func() string) *Outbox {
	return &Outbox{q: q, vault: v, newID: newID}
}

// SendTx queues m in tx: it is sent only if tx commits.
func (o *Outbox) SendTx(ctx context.Context, tx *db.Tx, m Message) error {
	id := o.newID()
	enc, err := o.vault.Encrypt([]byte(m.Text), "mail:"+id)
	if err != nil {
		return err
	}
	_, err = o.q.InsertTx(ctx, tx, sendArgs{ID: id, To: m.To, Subject: m.Subject, TextEnc: enc}, nil)
	return err
}
