package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// Providers are the model providers an agent's model can name.
var Providers = []string{"openai", "anthropic", "gemini", "ollama"}

// Tools says whether tool references are valid (internal/tool implements it).
type Tools interface {
	IsBuiltin(name string) bool
	CheckFunction(ctx context.Context, ownerID, id string) error
	CheckMCPServer(ctx context.Context, ownerID, id string) error
}

// Service holds the agent rules.
type Service struct {
	db    *db.DB
	store *store
	tools Tools
	now   func() time.Time
	// specs caches decoded specs by agent id and version. Versions never
	// change once written, so an entry can never be stale.
	specs *lru.Cache[specID, *Spec]
}

// New returns the service.
func New(d *db.DB, tools Tools, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	specs, _ := lru.New[specID, *Spec](10_000)
	return &Service{db: d, store: &store{db: d}, tools: tools, now: now, specs: specs}
}

// specID names one immutable version; a struct, so a cache lookup builds
// no string.
type specID struct {
	agent   string
	version int
}

func specKey(agentID string, version int) specID { return specID{agent: agentID, version: version} }

// attachSpecs fills each agent's current spec, from the cache when it can
// and in one query for the rest.
func (s *Service) attachSpecs(ctx context.Context, list []Agent) error {
	var missing []string
	for i := range list {
		if sp, ok := s.specs.Get(specKey(list[i].ID, list[i].CurrentVersion)); ok {
			list[i].Spec = sp
		} else {
			missing = append(missing, list[i].ID)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	vs, err := s.store.currentVersions(ctx, missing)
	if err != nil {
		return err
	}
	byKey := make(map[specID]*Spec, len(vs))
	for i := range vs {
		k := specKey(vs[i].AgentID, vs[i].Version)
		byKey[k] = &vs[i].Spec.V
		s.specs.Add(k, &vs[i].Spec.V)
	}
	for i := range list {
		if list[i].Spec == nil {
			list[i].Spec = byKey[specKey(list[i].ID, list[i].CurrentVersion)]
		}
	}
	return nil
}

// Access is what the caller may do with an agent.
type Access string

const (
	AccessNone  Access = ""
	AccessView  Access = "view"
	AccessRun   Access = "run"
	AccessEdit  Access = "edit"
	AccessOwner Access = "owner"
)

func (a Access) atLeast(perm string) bool {
	if a == AccessOwner {
		return true
	}
	return permRank[string(a)] >= permRank[perm]
}

func (s *Service) access(ctx context.Context, a *Agent, userID string) (Access, error) {
	if a.OwnerID == userID {
		return AccessOwner, nil
	}
	g, err := s.store.grant(ctx, a.ID, userID)
	if err != nil {
		return AccessNone, err
	}
	acc := Access(g)
	if (a.Visibility == Public || a.Visibility == Unlisted) && !acc.atLeast(PermRun) {
		acc = AccessRun
	}
	return acc, nil
}

// load finds an agent the caller may at least view; otherwise "not found",
// so nobody learns that another user's private agent exists.
func (s *Service) load(ctx context.Context, id string, need string) (*Agent, Access, *authn.Principal, error) {
	scope := authn.ScopeRead
	if need == PermEdit {
		scope = authn.ScopeWrite
	}
	p, err := authn.RequireScope(ctx, scope)
	if err != nil {
		return nil, AccessNone, nil, err
	}
	a, err := s.store.get(ctx, s.db.R, id)
	if err != nil {
		return nil, AccessNone, nil, err
	}
	acc, err := s.access(ctx, a, p.UserID)
	if err != nil {
		return nil, AccessNone, nil, err
	}
	if acc == AccessNone {
		return nil, AccessNone, nil, apperr.New(apperr.NotFound, "agent not found")
	}
	if !acc.atLeast(need) {
		return nil, acc, nil, apperr.Errorf(apperr.PermissionDenied, "you may %s this agent, not %s it", acc, need)
	}
	return a, acc, p, nil
}

// Input is an agent definition as a client sends it.
type Input struct {
	Spec
	Visibility string
	Tags       []string
}

var (
	tagPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	modelPattern = regexp.MustCompile(`^([a-z0-9-]+)/(\S{1,200})$`)
)

func checkModel(field, model string) error {
	m := modelPattern.FindStringSubmatch(model)
	if m == nil {
		return apperr.InvalidField(field, "must be provider/model, e.g. openai/gpt-4o-mini")
	}
	if !slices.Contains(Providers, m[1]) {
		return apperr.InvalidField(field, fmt.Sprintf("unknown provider %q (known: %s)", m[1], strings.Join(Providers, ", ")))
	}
	return nil
}

// validate checks a definition and normalises it. Tool and handoff
// references must name things the owner can use.
func (s *Service) validate(ctx context.Context, ownerID, selfID string, in *Input) error {
	in.Name, in.Description = strings.TrimSpace(in.Name), strings.TrimSpace(in.Description)
	if in.Name == "" || len(in.Name) > 100 {
		return apperr.InvalidField("body.name", "must be 1 to 100 characters")
	}
	if len(in.Description) > 2000 {
		return apperr.InvalidField("body.description", "must be at most 2,000 characters")
	}
	if strings.TrimSpace(in.Instructions) == "" || len(in.Instructions) > 100_000 {
		return apperr.InvalidField("body.instructions", "must be 1 to 100,000 characters")
	}
	if err := checkModel("body.model", in.Model); err != nil {
		return err
	}
	for i, f := range in.ModelSettings.Fallbacks {
		if err := checkModel(fmt.Sprintf("body.model_settings.fallbacks[%d]", i), f); err != nil {
			return err
		}
	}
	if in.Visibility == "" {
		in.Visibility = Private
	}
	if in.Visibility != Private && in.Visibility != Unlisted && in.Visibility != Public {
		return apperr.InvalidField("body.visibility", "must be private, unlisted or public")
	}
	if len(in.Tags) > 20 {
		return apperr.InvalidField("body.tags", "at most 20 tags")
	}
	for i, t := range in.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if !tagPattern.MatchString(t) {
			return apperr.InvalidField(fmt.Sprintf("body.tags[%d]", i), "must be lowercase letters, digits and dashes, up to 32")
		}
		in.Tags[i] = t
	}
	slices.Sort(in.Tags)
	in.Tags = slices.Compact(in.Tags)
	if len(in.Tools) > 64 {
		return apperr.InvalidField("body.tools", "at most 64 tools")
	}
	for i, t := range in.Tools {
		if err := s.checkTool(ctx, ownerID, selfID, fmt.Sprintf("body.tools[%d]", i), t); err != nil {
			return err
		}
	}
	if len(in.Handoffs) > 16 {
		return apperr.InvalidField("body.handoffs", "at most 16 handoffs")
	}
	for i, id := range in.Handoffs {
		if err := s.checkAgentRef(ctx, ownerID, selfID, fmt.Sprintf("body.handoffs[%d]", i), id); err != nil {
			return err
		}
	}
	insts := 0
	for i, g := range in.Guardrails {
		if err := checkGuardrail(fmt.Sprintf("body.guardrails[%d]", i), g, &insts); err != nil {
			return err
		}
	}
	if len(in.OutputSchema) > 0 && string(in.OutputSchema) != "null" {
		var schema map[string]any
		if err := json.Unmarshal(in.OutputSchema, &schema); err != nil || schema["type"] == nil || len(in.OutputSchema) > 64<<10 {
			return apperr.InvalidField("body.output_schema", "must be a JSON Schema object with a type, at most 64 KiB")
		}
	} else {
		in.OutputSchema = nil
	}
	if in.Tools == nil {
		in.Tools = []ToolRef{}
	}
	if in.Handoffs == nil {
		in.Handoffs = []string{}
	}
	if in.Guardrails == nil {
		in.Guardrails = []Guardrail{}
	}
	return nil
}

func (s *Service) checkTool(ctx context.Context, ownerID, selfID, field string, t ToolRef) error {
	switch t.Type {
	case "builtin":
		if !s.tools.IsBuiltin(t.Name) {
			return apperr.InvalidField(field+".name", fmt.Sprintf("unknown built-in tool %q (see GET /api/v1/tools)", t.Name))
		}
	case "function":
		if err := s.tools.CheckFunction(ctx, ownerID, t.ID); err != nil {
			return apperr.InvalidField(field+".id", "no such function tool")
		}
	case "mcp":
		if err := s.tools.CheckMCPServer(ctx, ownerID, t.ServerID); err != nil {
			return apperr.InvalidField(field+".server_id", "no such MCP server")
		}
	case "agent":
		return s.checkAgentRef(ctx, ownerID, selfID, field+".id", t.ID)
	default:
		return apperr.InvalidField(field+".type", "must be builtin, function, mcp or agent")
	}
	return nil
}

// checkAgentRef accepts another agent the owner may run.
func (s *Service) checkAgentRef(ctx context.Context, ownerID, selfID, field, id string) error {
	if id == selfID && id != "" {
		return apperr.InvalidField(field, "an agent cannot call itself")
	}
	a, err := s.store.get(ctx, s.db.R, id)
	if err != nil {
		return apperr.InvalidField(field, "no such agent")
	}
	acc, err := s.access(ctx, a, ownerID)
	if err != nil {
		return err
	}
	if !acc.atLeast(PermRun) {
		return apperr.InvalidField(field, "no such agent")
	}
	return nil
}

// checkGuardrail checks one guardrail; insts sums the agent's compiled
// pattern sizes.
func checkGuardrail(field string, g Guardrail, insts *int) error {
	if g.Stage != "input" && g.Stage != "output" {
		return apperr.InvalidField(field+".stage", "must be input or output")
	}
	switch g.Type {
	case "max_length":
		if g.MaxChars <= 0 {
			return apperr.InvalidField(field+".max_chars", "must be positive")
		}
	case "blocked_patterns":
		if len(g.Patterns) == 0 {
			return apperr.InvalidField(field+".patterns", "give at least one pattern")
		}
		for i, p := range g.Patterns {
			n, err := PatternSize(p)
			if err != nil {
				return apperr.InvalidField(fmt.Sprintf("%s.patterns[%d]", field, i), err.Error())
			}
			if *insts += n; *insts > MaxPatternInstsTotal {
				return apperr.InvalidField(fmt.Sprintf("%s.patterns[%d]", field, i),
					fmt.Sprintf("the agent's patterns compile to more than %d instructions in all; use fewer or simpler ones", MaxPatternInstsTotal))
			}
		}
	case "model":
		if err := checkModel(field+".model", g.Model); err != nil {
			return err
		}
		if strings.TrimSpace(g.Prompt) == "" {
			return apperr.InvalidField(field+".prompt", "say what the judge must block")
		}
	default:
		return apperr.InvalidField(field+".type", "must be max_length, blocked_patterns or model")
	}
	return nil
}

// Create makes an agent owned by the caller, at version 1.
func (s *Service) Create(ctx context.Context, in Input) (*Agent, Access, error) {
	p, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, AccessNone, err
	}
	if err := s.validate(ctx, p.UserID, "", &in); err != nil {
		return nil, AccessNone, err
	}
	now := s.now().UTC()
	a := &Agent{ID: ids.New(), OwnerID: p.UserID, Name: in.Name, Description: in.Description, Visibility: in.Visibility,
		Tags: in.Tags, CurrentVersion: 1, CreatedAt: now, UpdatedAt: now}
	spec := in.Spec
	spec.Name, spec.Description = in.Name, in.Description
	v := &Version{AgentID: a.ID, Version: 1, Spec: db.JSON[Spec]{V: spec}, CreatedBy: p.UserID, CreatedAt: now}
	if err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error { return s.store.insert(ctx, tx, a, v) }); err != nil {
		return nil, AccessNone, err
	}
	a.Spec = &v.Spec.V
	return a, AccessOwner, nil
}

// Get returns an agent with its current spec.
func (s *Service) Get(ctx context.Context, id string) (*Agent, Access, error) {
	a, acc, _, err := s.load(ctx, id, PermView)
	if err != nil {
		return nil, acc, err
	}
	v, err := s.store.version(ctx, s.db.R, a.ID, a.CurrentVersion)
	if err != nil {
		return nil, acc, err
	}
	a.Spec = &v.Spec.V
	return a, acc, nil
}

// Patch holds the fields a PATCH changes; nil ones stay.
type Patch struct {
	Name          *string
	Description   *string
	Instructions  *string
	Model         *string
	ModelSettings *ModelSettings
	Tools         *[]ToolRef
	Handoffs      *[]string
	Guardrails    *[]Guardrail
	OutputSchema  *json.RawMessage
	Visibility    *string
	Tags          *[]string
}

// Update applies a patch as a new version.
func (s *Service) Update(ctx context.Context, id string, p Patch) (*Agent, Access, error) {
	a, acc, pr, err := s.load(ctx, id, PermEdit)
	if err != nil {
		return nil, acc, err
	}
	cur, err := s.store.version(ctx, s.db.R, a.ID, a.CurrentVersion)
	if err != nil {
		return nil, acc, err
	}
	in := Input{Spec: cur.Spec.V, Visibility: a.Visibility, Tags: append([]string(nil), a.Tags...)}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&in.Name, p.Name)
	set(&in.Description, p.Description)
	set(&in.Instructions, p.Instructions)
	set(&in.Model, p.Model)
	set(&in.Visibility, p.Visibility)
	if p.ModelSettings != nil {
		in.ModelSettings = *p.ModelSettings
	}
	if p.Tools != nil {
		in.Tools = *p.Tools
	}
	if p.Handoffs != nil {
		in.Handoffs = *p.Handoffs
	}
	if p.Guardrails != nil {
		in.Guardrails = *p.Guardrails
	}
	if p.OutputSchema != nil {
		in.OutputSchema = *p.OutputSchema
	}
	if p.Tags != nil {
		in.Tags = *p.Tags
	}
	if p.Visibility != nil && *p.Visibility != a.Visibility && acc != AccessOwner {
		return nil, acc, apperr.New(apperr.PermissionDenied, "only the owner may change who can see the agent")
	}
	if err := s.validate(ctx, a.OwnerID, a.ID, &in); err != nil {
		return nil, acc, err
	}
	return s.saveVersion(ctx, a, acc, pr.UserID, in)
}

func (s *Service) saveVersion(ctx context.Context, a *Agent, acc Access, by string, in Input) (*Agent, Access, error) {
	now := s.now().UTC()
	spec := in.Spec
	spec.Name, spec.Description = in.Name, in.Description
	a.Name, a.Description, a.Visibility, a.Tags, a.UpdatedAt = in.Name, in.Description, in.Visibility, in.Tags, now
	a.CurrentVersion++
	v := &Version{AgentID: a.ID, Version: a.CurrentVersion, Spec: db.JSON[Spec]{V: spec}, CreatedBy: by, CreatedAt: now}
	if err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error { return s.store.addVersion(ctx, tx, a, v) }); err != nil {
		return nil, acc, err
	}
	a.Spec = &v.Spec.V
	return a, acc, nil
}

// Versions lists every version, newest first.
func (s *Service) Versions(ctx context.Context, id string) ([]Version, error) {
	a, _, _, err := s.load(ctx, id, PermView)
	if err != nil {
		return nil, err
	}
	return s.store.versions(ctx, a.ID)
}

// Restore makes an old version's spec current again, as a new version.
func (s *Service) Restore(ctx context.Context, id string, version int) (*Agent, Access, error) {
	a, acc, pr, err := s.load(ctx, id, PermEdit)
	if err != nil {
		return nil, acc, err
	}
	old, err := s.store.version(ctx, s.db.R, a.ID, version)
	if err != nil {
		return nil, acc, err
	}
	in := Input{Spec: old.Spec.V, Visibility: a.Visibility, Tags: a.Tags}
	// Re-checked: a tool or agent the old version used may be gone.
	if err := s.validate(ctx, a.OwnerID, a.ID, &in); err != nil {
		return nil, acc, err
	}
	return s.saveVersion(ctx, a, acc, pr.UserID, in)
}

// Delete removes an agent (owner only). The write scope is checked first,
// before any lookup: load is asked for PermView (so that someone who may
// only see the agent is told it is the owner's to delete, not that it is
// missing), and PermView needs just the read scope.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return err
	}
	a, acc, _, err := s.load(ctx, id, PermView)
	if err != nil {
		return err
	}
	if acc != AccessOwner {
		return apperr.New(apperr.PermissionDenied, "only the owner may delete the agent")
	}
	return s.store.delete(ctx, a.ID)
}

// ListParams filter the caller's agents.
type ListParams struct {
	Query  string
	Tag    string
	Cursor string
	Limit  int
}

// Listed is an agent in a list, with what the caller may do with it.
type Listed struct {
	Agent
	Access Access
}

// List returns the caller's own agents and those shared with them, with
// their current specs, newest first, and the next page's cursor.
func (s *Service) List(ctx context.Context, p ListParams) ([]Listed, string, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, "", err
	}
	if p.Limit <= 0 || p.Limit > 100 {
		p.Limit = 20
	}
	list, err := s.store.list(ctx, listParams{UserID: pr.UserID, Query: strings.ToLower(strings.TrimSpace(p.Query)),
		Tag: strings.ToLower(strings.TrimSpace(p.Tag)), Before: p.Cursor, Limit: p.Limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[p.Limit-1].ID
	}
	if err := s.attachSpecs(ctx, list); err != nil {
		return nil, "", err
	}
	granted, err := s.store.grantsFor(ctx, pr.UserID, list)
	if err != nil {
		return nil, "", err
	}
	out := make([]Listed, len(list))
	for i, a := range list {
		acc := AccessOwner
		if a.OwnerID != pr.UserID {
			acc = Access(granted[a.ID])
		}
		out[i] = Listed{Agent: a, Access: acc}
	}
	return out, next, nil
}

// Grants lists who was given access (owner only).
func (s *Service) Grants(ctx context.Context, id string) ([]Grant, error) {
	if _, err := s.ownerOnly(ctx, id, authn.ScopeRead); err != nil {
		return nil, err
	}
	return s.store.grants(ctx, id)
}

// SetGrant gives a user view, run or edit access (owner only).
func (s *Service) SetGrant(ctx context.Context, id, userID, perm string) (*Grant, error) {
	a, err := s.ownerOnly(ctx, id, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if _, ok := permRank[perm]; !ok {
		return nil, apperr.InvalidField("body.permission", "must be view, run or edit")
	}
	if userID == a.OwnerID {
		return nil, apperr.InvalidField("path.user_id", "the owner already has every right")
	}
	g := &Grant{AgentID: a.ID, UserID: userID, Permission: perm, CreatedAt: s.now().UTC()}
	return g, s.store.putGrant(ctx, g)
}

// RemoveGrant takes a user's access away (owner only).
func (s *Service) RemoveGrant(ctx context.Context, id, userID string) error {
	if _, err := s.ownerOnly(ctx, id, authn.ScopeWrite); err != nil {
		return err
	}
	return s.store.deleteGrant(ctx, id, userID)
}

// ownerOnly loads an agent the caller owns, after checking that their
// credential carries scope (write for a change to the sharing).
func (s *Service) ownerOnly(ctx context.Context, id, scope string) (*Agent, error) {
	if _, err := authn.RequireScope(ctx, scope); err != nil {
		return nil, err
	}
	a, acc, _, err := s.load(ctx, id, PermView)
	if err != nil {
		return nil, err
	}
	if acc != AccessOwner {
		return nil, apperr.New(apperr.PermissionDenied, "only the owner manages sharing")
	}
	return a, nil
}

// ForRun returns the current spec of an agent the caller may run, and its
// version.
func (s *Service) ForRun(ctx context.Context, id string) (*Spec, int, error) {
	a, _, _, err := s.load(ctx, id, PermRun)
	if err != nil {
		return nil, 0, err
	}
	v, err := s.store.version(ctx, s.db.R, a.ID, a.CurrentVersion)
	if err != nil {
		return nil, 0, err
	}
	return &v.Spec.V, v.Version, nil
}

// SpecOf returns an agent's current spec without checking the caller: the
// run engine uses it for the handoffs and agent tools an agent was
// configured with (checked against its owner when configured).
func (s *Service) SpecOf(ctx context.Context, id string) (*Spec, error) {
	a, err := s.store.get(ctx, s.db.R, id)
	if err != nil {
		return nil, err
	}
	v, err := s.store.version(ctx, s.db.R, a.ID, a.CurrentVersion)
	if err != nil {
		return nil, err
	}
	return &v.Spec.V, nil
}
