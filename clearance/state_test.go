package clearance

import (
	"errors"
	"testing"
)

var allStates = []TaskState{TaskPending, TaskAssigned, TaskInProgress, TaskAwaitingLab, TaskResultRecorded,
	TaskReleased, TaskTreatedRelease, TaskReturned, TaskDestroyed, TaskDetained, TaskCancelled}

// TestNextCoversEveryTransition checks every (state, event) pair against the transition table of
// the issue: pending → assigned → in progress → result recorded → released / treated-then-released
// / returned / destroyed / detained, with lab sampling, cancellation and overrides. A pair absent
// from the table must be refused with ErrState.
func TestNextCoversEveryTransition(t *testing.T) {
	type step struct {
		ev   Event
		disp string
	}
	finals := map[TaskState]TaskState{TaskReleased: TaskReleased, TaskTreatedRelease: TaskTreatedRelease,
		TaskReturned: TaskReturned, TaskDestroyed: TaskDestroyed, TaskDetained: TaskDetained}
	merge := func(a, b map[TaskState]TaskState) map[TaskState]TaskState {
		out := map[TaskState]TaskState{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	table := map[step]map[TaskState]TaskState{
		{EventAssign, ""}: {TaskPending: TaskAssigned},
		{EventReassign, ""}: {TaskPending: TaskAssigned, TaskAssigned: TaskAssigned, TaskInProgress: TaskAssigned,
			TaskAwaitingLab: TaskAwaitingLab, TaskResultRecorded: TaskResultRecorded},
		{EventStart, ""}: {TaskAssigned: TaskInProgress},
		{EventResult, ""}: merge(map[TaskState]TaskState{TaskPending: TaskResultRecorded, TaskAssigned: TaskResultRecorded,
			TaskInProgress: TaskResultRecorded, TaskResultRecorded: TaskResultRecorded}, finals),
		{EventResult, DispRelease}: merge(map[TaskState]TaskState{TaskPending: TaskReleased, TaskAssigned: TaskReleased,
			TaskInProgress: TaskReleased, TaskResultRecorded: TaskReleased}, finals),
		{EventResult, DispTreatRelease}: merge(map[TaskState]TaskState{TaskInProgress: TaskTreatedRelease,
			TaskPending: TaskTreatedRelease, TaskAssigned: TaskTreatedRelease, TaskResultRecorded: TaskTreatedRelease}, finals),
		{EventResult, DispReturn}: merge(map[TaskState]TaskState{TaskInProgress: TaskReturned,
			TaskPending: TaskReturned, TaskAssigned: TaskReturned, TaskResultRecorded: TaskReturned}, finals),
		{EventResult, DispDestroy}: merge(map[TaskState]TaskState{TaskInProgress: TaskDestroyed,
			TaskPending: TaskDestroyed, TaskAssigned: TaskDestroyed, TaskResultRecorded: TaskDestroyed}, finals),
		{EventResult, DispDetain}: merge(map[TaskState]TaskState{TaskInProgress: TaskDetained,
			TaskPending: TaskDetained, TaskAssigned: TaskDetained, TaskResultRecorded: TaskDetained}, finals),
		{EventResult, "BURN"}: {},
		{EventPendingLab, ""}: {TaskPending: TaskAwaitingLab, TaskAssigned: TaskAwaitingLab, TaskInProgress: TaskAwaitingLab,
			TaskResultRecorded: TaskAwaitingLab},
		{EventLabResult, ""}:          {TaskAwaitingLab: TaskResultRecorded},
		{EventLabResult, DispRelease}: {TaskAwaitingLab: TaskReleased},
		{EventLabResult, DispDestroy}: {TaskAwaitingLab: TaskDestroyed},
		{EventLabResult, "BURN"}:      {},
		{EventCancel, ""}: {TaskPending: TaskCancelled, TaskAssigned: TaskCancelled, TaskInProgress: TaskCancelled,
			TaskAwaitingLab: TaskCancelled, TaskResultRecorded: TaskCancelled},
		{EventOverrideGreen, ""}: {TaskPending: TaskReleased, TaskAssigned: TaskReleased, TaskInProgress: TaskReleased,
			TaskResultRecorded: TaskReleased},
		{EventOverrideChange, ""}: {TaskPending: TaskPending, TaskAssigned: TaskAssigned, TaskInProgress: TaskInProgress,
			TaskAwaitingLab: TaskAwaitingLab, TaskResultRecorded: TaskResultRecorded},
	}
	for st, allowed := range table {
		for _, from := range allStates {
			want, ok := allowed[from]
			name := string(from) + " on " + string(st.ev)
			if st.disp != "" {
				name += " with " + st.disp
			}
			if ok {
				name += " becomes " + string(want)
			} else {
				name += " is refused"
			}
			t.Run(name, func(t *testing.T) {
				got, err := from.Next(st.ev, st.disp)
				if !ok {
					if !errors.Is(err, ErrState) {
						t.Fatalf("got %s, %v; want ErrState", got, err)
					}
					return
				}
				if err != nil || got != want {
					t.Fatalf("got %s, %v; want %s", got, err, want)
				}
			})
		}
	}
}

func TestFinalStatesAreExactlyTheEndsOfTheMachine(t *testing.T) {
	for _, s := range allStates {
		var leaves bool
		for _, ev := range []Event{EventAssign, EventReassign, EventStart, EventResult, EventPendingLab, EventLabResult, EventCancel, EventOverrideGreen, EventOverrideChange} {
			if n, err := s.Next(ev, ""); err == nil && n != s {
				leaves = true
			}
		}
		if leaves == s.Final() {
			t.Errorf("state %s: Final()=%v but can leave=%v", s, s.Final(), leaves)
		}
	}
}
