package app

// For the contract tests in app_test.
var (
	SchemaNames     = schemaNames
	RequestExamples = requestExamples
)
