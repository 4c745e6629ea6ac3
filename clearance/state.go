package clearance

import "fmt"

// Event is something that happens to a task. TaskState.Next says where it leads.
type Event string

// Task events.
const (
	EventAssign         Event = "assign"          // a draw or a supervisor gives the task an officer
	EventReassign       Event = "reassign"        // a supervisor moves it to another officer, with a reason
	EventStart          Event = "start"           // the officer begins the inspection
	EventResult         Event = "result"          // conforming / non-conforming result (or its correction)
	EventPendingLab     Event = "pending_lab"     // a sample went to the laboratory
	EventLabResult      Event = "lab_result"      // the laboratory reported
	EventCancel         Event = "cancel"          // declaration withdrawn or superseded by an amendment
	EventOverrideGreen  Event = "override_green"  // a channel override to GREEN releases it untouched
	EventOverrideChange Event = "override_change" // a channel override between RED and YELLOW
)

// dispositionState maps a disposition to the final state it leads to; "" → RESULT_RECORDED.
func dispositionState(d string) (TaskState, bool) {
	switch d {
	case "":
		return TaskResultRecorded, true
	case DispRelease:
		return TaskReleased, true
	case DispTreatRelease:
		return TaskTreatedRelease, true
	case DispReturn:
		return TaskReturned, true
	case DispDestroy:
		return TaskDestroyed, true
	case DispDetain:
		return TaskDetained, true
	}
	return "", false
}

// Next returns the state a task in state s moves to on ev. disposition matters for EventResult
// and EventLabResult: empty leaves the task RESULT_RECORDED awaiting a disposition, otherwise
// the task ends in the disposition's final state. A correction (EventResult on a task that
// already ended) keeps its final state: goods already released or destroyed stay so. It returns
// an error wrapping ErrState when ev is not allowed in s.
func (s TaskState) Next(ev Event, disposition string) (TaskState, error) {
	bad := func() (TaskState, error) {
		return s, fmt.Errorf("%w: %s is not allowed in state %s", ErrState, ev, s)
	}
	open := !s.Final()
	switch ev {
	case EventAssign:
		if s == TaskPending {
			return TaskAssigned, nil
		}
	case EventReassign:
		switch s {
		case TaskPending, TaskAssigned, TaskInProgress:
			return TaskAssigned, nil
		case TaskAwaitingLab, TaskResultRecorded:
			return s, nil // a new officer takes over the disposition
		}
	case EventStart:
		if s == TaskAssigned {
			return TaskInProgress, nil
		}
	case EventResult:
		d, ok := dispositionState(disposition)
		if !ok {
			return bad()
		}
		switch {
		case s == TaskPending, s == TaskAssigned, s == TaskInProgress, s == TaskResultRecorded:
			return d, nil
		case s.Final() && s != TaskCancelled:
			return s, nil // correction of a finished task
		}
	case EventPendingLab:
		switch s {
		case TaskPending, TaskAssigned, TaskInProgress, TaskResultRecorded:
			return TaskAwaitingLab, nil
		}
	case EventLabResult:
		d, ok := dispositionState(disposition)
		if !ok {
			return bad()
		}
		if s == TaskAwaitingLab {
			return d, nil
		}
	case EventCancel:
		if open {
			return TaskCancelled, nil
		}
	case EventOverrideGreen:
		if open && s != TaskAwaitingLab {
			return TaskReleased, nil
		}
	case EventOverrideChange:
		if open {
			return s, nil
		}
	}
	return bad()
}
