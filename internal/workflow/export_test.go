package workflow

// OnDispatch makes s call f after each Dispatch with the event, the workflow
// whose run raised it ("" for app events) and the runs it started.
func (s *Service) OnDispatch(f func(event, fromWorkflow string, started []string)) {
	s.dispatched.Store(&f)
}
