package tool

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/platform/schema"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

// Sealed are the tool features' encrypted columns, for key rotation.
var Sealed = []vault.Sealed{{Table: "function_tools", Column: "secret_enc", AADPrefix: "function_tool:"},
	{Table: "mcp_servers", Column: "headers_enc", AADPrefix: "mcp_headers:"}}

// Function is a user-defined tool: a schema and a webhook.
type Function struct {
	bun.BaseModel `bun:"table:function_tools"`

	ID          string                   `bun:"id,pk"`
	OwnerID     string                   `bun:"owner_id,notnull"`
	Name        string                   `bun:"name,notnull"`
	Description string                   `bun:"description,notnull"`
	Parameters  db.JSON[json.RawMessage] `bun:"parameters,type:jsonb,notnull"`
	URL         string                   `bun:"url,notnull"`
	SecretEnc   string                   `bun:"secret_enc,notnull"`
	TimeoutMS   int                      `bun:"timeout_ms,notnull"`
	CreatedAt   time.Time                `bun:"created_at,notnull"`
}

var toolName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Functions manages user-defined tools and calls their webhooks.
type Functions struct {
	db     *db.DB
	vault  *vault.Vault
	policy *outbound.Policy
	client *http.Client // the policy's: public addresses unless allowed
	now    func() time.Time
	sleep  func(time.Duration)
}

// NewFunctions returns the function tool service. Its webhooks are called
// through p (nil: public addresses only); each call's own timeout applies
// under the client's.
func NewFunctions(d *db.DB, v *vault.Vault, p *outbound.Policy) *Functions {
	if p == nil {
		p = outbound.Public()
	}
	return &Functions{db: d, vault: v, policy: p, client: p.Client(outbound.ClientOptions{Timeout: 2 * time.Minute}), now: time.Now, sleep: time.Sleep}
}

// CreateFunctionParams is a new tool.
type CreateFunctionParams struct {
	Name        string
	Description string
	Parameters  json.RawMessage
	URL         string
	Timeout     time.Duration
}

// Create defines a tool for the caller and returns it with its signing
// secret, shown this once.
func (f *Functions) Create(ctx context.Context, p CreateFunctionParams) (*Function, string, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, "", err
	}
	if !toolName.MatchString(p.Name) {
		return nil, "", apperr.InvalidField("body.name", "must be lowercase letters, digits and _, starting with a letter, up to 64")
	}
	if strings.TrimSpace(p.Description) == "" || len(p.Description) > 2000 {
		return nil, "", apperr.InvalidField("body.description", "must be 1 to 2,000 characters: the model reads it to decide when to call the tool")
	}
	if len(p.Parameters) == 0 {
		p.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	var top map[string]any
	if err := json.Unmarshal(p.Parameters, &top); err != nil || top["type"] != "object" {
		return nil, "", apperr.InvalidField("body.parameters", "must be a JSON Schema of type object")
	}
	if _, err := schema.Compile(p.Parameters); err != nil {
		return nil, "", apperr.InvalidField("body.parameters", err.Error())
	}
	if err := f.policy.CheckURL(p.URL); err != nil {
		return nil, "", apperr.InvalidField("body.url", err.Error())
	}
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.Timeout > time.Minute {
		return nil, "", apperr.InvalidField("body.timeout_seconds", "at most 60")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, "", err
	}
	plain := "whsec_" + base64.RawURLEncoding.EncodeToString(secret)
	id := ids.New()
	enc, err := f.vault.Encrypt([]byte(plain), "function_tool:"+id)
	if err != nil {
		return nil, "", err
	}
	fn := &Function{ID: id, OwnerID: pr.UserID, Name: p.Name, Description: p.Description, Parameters: db.JSON[json.RawMessage]{V: p.Parameters}, URL: p.URL,
		SecretEnc: enc, TimeoutMS: int(p.Timeout.Milliseconds()), CreatedAt: f.now().UTC()}
	if _, err := f.db.W.NewInsert().Model(fn).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return nil, "", apperr.Errorf(apperr.Conflict, "you already have a tool named %q", p.Name)
		}
		return nil, "", err
	}
	return fn, plain, nil
}

// List returns the caller's tools.
func (f *Functions) List(ctx context.Context) ([]Function, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	var out []Function
	err = f.db.R.NewSelect().Model(&out).Where("owner_id = ?", pr.UserID).Order("name").Scan(ctx)
	return out, err
}

// Delete removes one of the caller's tools.
func (f *Functions) Delete(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	return f.db.DeleteOwned(ctx, db.DeleteOwnedParams{Model: (*Function)(nil), ID: id, OwnerID: pr.UserID, What: "tool"})
}

// Get loads a tool by id (the run engine; the agent's owner chose it).
func (f *Functions) Get(ctx context.Context, id string) (*Function, error) {
	fn := &Function{}
	err := f.db.R.NewSelect().Model(fn).Where("id = ?", id).Scan(ctx)
	if db.IsNoRows(err) {
		return nil, apperr.New(apperr.NotFound, "tool not found")
	}
	return fn, err
}

// CheckFunction says whether the owner has this tool (agent validation).
func (f *Functions) CheckFunction(ctx context.Context, ownerID, id string) error {
	n, err := f.db.R.NewSelect().Model((*Function)(nil)).Where("id = ? AND owner_id = ?", id, ownerID).Count(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.Errorf(apperr.NotFound, "function tool %q not found", id)
	}
	return nil
}

type idempotencyKey struct{}

// WithIdempotencyKey names the call for webhooks (run id and step number),
// so a retried call can be recognised and not done twice.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, key)
}

// Sign computes the X-Pulse-Signature header: HMAC-SHA256 over
// "<timestamp>.<body>" with the tool's secret, Stripe-style, so receivers
// can check the sender and reject replays.
func Sign(secret string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", ts.Unix())
	m.Write(body)
	return "t=" + strconv.FormatInt(ts.Unix(), 10) + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Func returns the callable for a tool: a signed POST of the arguments,
// retried on 5xx and timeouts with the same idempotency key.
func (f *Functions) Func(fn *Function) Func {
	return func(ctx context.Context, args json.RawMessage) (string, error) {
		secret, err := f.vault.Decrypt(ctx, fn.SecretEnc, "function_tool:"+fn.ID)
		if err != nil {
			return "", err
		}
		key, _ := ctx.Value(idempotencyKey{}).(string)
		body, _ := json.Marshal(map[string]any{"tool": fn.Name, "arguments": args, "idempotency_key": key})
		var last error
		for attempt := 0; attempt < 3; attempt++ {
			if attempt > 0 {
				f.sleep(time.Duration(attempt) * 500 * time.Millisecond)
			}
			out, retry, err := f.post(ctx, fn, string(secret), key, body)
			if err == nil {
				return out, nil
			}
			last = err
			if !retry || ctx.Err() != nil {
				break
			}
		}
		return "", last
	}
}

func (f *Functions) post(ctx context.Context, fn *Function, secret, key string, body []byte) (string, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(fn.TimeoutMS)*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fn.URL, bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Pulse-Webhook/1.0")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("X-Pulse-Signature", Sign(secret, f.now(), body))
	res, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, outbound.ErrRefused) {
			return "", false, fmt.Errorf("refused: the tool's URL leads to an address that is not public: %v", err)
		}
		return "", true, fmt.Errorf("the tool's webhook did not answer: %v", err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 500 {
		return "", true, fmt.Errorf("the tool's webhook answered %d", res.StatusCode)
	}
	if res.StatusCode >= 300 {
		return "", false, fmt.Errorf("the tool's webhook answered %d: %s", res.StatusCode, truncate(string(out), 500))
	}
	return truncate(string(out), 20_000), false, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
