package app

// schemaNames gives every schema of the API the name of the resource it
// holds. huma names a schema after its Go type (AgentOut) or, for an
// anonymous request or response body, after the type that holds it
// (CreateInputBody, AgentListOutputBody); those are the keys here. The Go
// types keep their names, so handlers are untouched: this table is the one
// place a schema's public name is chosen.
//
// TestOpenAPIContract refuses a schema name that still ends in
// Out/InputBody/OutputBody and an entry here that no schema uses any more
// (a renamed Go type must be renamed here too).
var schemaNames = map[string]string{
	// meta and operations
	"MetaOutputBody":   "Meta",
	"HealthOutputBody": "Health",
	"ReadyOutputBody":  "Readiness",

	// auth: accounts, sessions, keys, MFA, OAuth, admin
	"RegisterInputBody":    "SignUp",
	"UserOut":              "User",
	"UpdateMeInputBody":    "UserPatch",
	"PasswordInputBody":    "PasswordChange",
	"ForgotInputBody":      "PasswordForgot",
	"ResetInputBody":       "PasswordReset",
	"TokenBodyBody":        "EmailVerification",
	"SessionOut":           "Session",
	"SessionsOutputBody":   "SessionList",
	"ApiKeyOut":            "APIKey",
	"CreateKeyInputBody":   "APIKeyCreate",
	"KeysOutputBody":       "APIKeyList",
	"CodeInputBody":        "TOTPCode",
	"RecoveryOutputBody":   "RecoveryCodes",
	"MfaVerifyInputBody":   "MFAVerify",
	"ProvidersOutputBody":  "OAuthProviderList",
	"AuthURLOutputBody":    "OAuthAuthorization",
	"LinkInputBody":        "OAuthLink",
	"IdentityOut":          "Identity",
	"IdentitiesOutputBody": "IdentityList",
	"JwksOutputBody":       "JWKS",
	"AdminUsersOutputBody": "AdminUserList",
	"AdminPatchInputBody":  "AdminUserPatch",
	"Event":                "AuditEvent",
	"AuditOutputBody":      "AuditEventList",

	// agents
	"AgentOut":            "Agent",
	"CreateInputBody":     "AgentCreate",
	"PatchInputBody":      "AgentPatch",
	"AgentListOutputBody": "AgentList",
	"Spec":                "AgentSpec",
	"VersionOut":          "AgentVersion",
	"VersionsOutputBody":  "AgentVersionList",
	"GrantOut":            "AgentGrant",
	"GrantInputBody":      "AgentGrantPut",
	"GrantsOutputBody":    "AgentGrantList",

	// runs
	"RunOut":             "Run",
	"StartInputBody":     "RunCreate",
	"RunListOutputBody":  "RunList",
	"Step":               "RunStep",
	"StepsOutputBody":    "RunStepList",
	"Message":            "RunMessage",
	"MessagesOutputBody": "RunMessageList",
	"RejectInputBody":    "RunReject",
	"Usage":              "RunUsage",
	"Ticket":             "RealtimeTicket",

	// jobs
	"JobView":            "Job",
	"StartJobInputBody":  "JobCreate",
	"StartJobOutputBody": "JobStarted",

	// provider keys
	"KeyOut":             "ProviderKey",
	"KeyCreateInputBody": "ProviderKeyCreate",
	"KeysListOutputBody": "ProviderKeyList",

	// tools
	"Builtin":                 "BuiltinTool",
	"CatalogOutputBody":       "ToolCatalog",
	"FunctionOut":             "FunctionTool",
	"CreateFunctionInputBody": "FunctionToolCreate",
	"McpOut":                  "MCPServer",
	"CreateMCPInputBody":      "MCPServerCreate",
	"McpListOutputBody":       "MCPServerList",

	// workflows
	"WorkflowOut":              "Workflow",
	"CreateWorkflowInputBody":  "WorkflowCreate",
	"UpdateWorkflowInputBody":  "WorkflowPatch",
	"WorkflowListOutputBody":   "WorkflowList",
	"WorkflowVersionOut":       "WorkflowVersion",
	"WfVersionsOutputBody":     "WorkflowVersionList",
	"WfVersionInputBody":       "WorkflowVersionSelect",
	"WorkflowRunOut":           "WorkflowRun",
	"StartWorkflowInputBody":   "WorkflowRunCreate",
	"WfRunListOutputBody":      "WorkflowRunList",
	"WfResumeInputBody":        "WorkflowRunResume",
	"WfForkInputBody":          "WorkflowRunFork",
	"WorkflowStepOut":          "WorkflowStep",
	"WfStepsOutputBody":        "WorkflowStepList",
	"WorkflowCheckpointOut":    "WorkflowCheckpoint",
	"WfCheckpointsOutputBody":  "WorkflowCheckpointList",
	"WorkflowThreadOut":        "WorkflowThread",
	"WfCreateThreadInputBody":  "WorkflowThreadCreate",
	"WorkflowTriggerOut":       "WorkflowTrigger",
	"WfCreateTriggerInputBody": "WorkflowTriggerCreate",
	"WfTriggerPatchInputBody":  "WorkflowTriggerPatch",
	"WfTriggersOutputBody":     "WorkflowTriggerList",
	"WfEmitInputBody":          "EventEmit",
	"WfEmitOutputBody":         "EventEmitted",

	// planner
	"TaskOut":             "Task",
	"TaskInput":           "TaskCreate",
	"TaskListOutputBody":  "TaskList",
	"EventOut":            "CalendarEvent",
	"EventInput":          "CalendarEventCreate",
	"EventPatch":          "CalendarEventPatch",
	"EventListOutputBody": "CalendarEventList",
	"Preferences":         "PlannerPreferences",
	"PreferencesInput":    "PlannerPreferencesUpdate",
	"PlanInputBody":       "ScheduleRange",
	"PlanOut":             "SchedulePlan",
	"ScheduleOut":         "Schedule",
	"BlockOut":            "ScheduleBlock",
	"BlockPatch":          "ScheduleBlockPatch",
	"AtRiskOut":           "AtRiskTask",
	"UnscheduledOut":      "UnscheduledTask",
}
