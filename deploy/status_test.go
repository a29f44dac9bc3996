package deploy

import (
	"errors"
	"testing"
)

// legal is the table spelled out pair by pair, so a change to the table has
// to be made twice, once on purpose.
var legal = map[[2]Status]bool{
	{Pending, Standby}: true, {Pending, Initializing}: true, {Pending, Stopped}: true, {Pending, Deleted}: true,
	{Initializing, Ready}: true, {Initializing, Errored}: true, {Initializing, Stopped}: true, {Initializing, Deleted}: true,
	{Ready, Standby}: true, {Ready, Updating}: true, {Ready, Initializing}: true, {Ready, Stopped}: true, {Ready, Deleted}: true,
	{Standby, Initializing}: true, {Standby, Stopped}: true, {Standby, Deleted}: true,
	{Stopped, Standby}: true, {Stopped, Deleted}: true,
	{Errored, Initializing}: true, {Errored, Standby}: true, {Errored, Stopped}: true, {Errored, Deleted}: true,
	{Updating, Ready}: true, {Updating, Errored}: true, {Updating, Stopped}: true, {Updating, Deleted}: true,
}

func TestEveryTransition(t *testing.T) {
	for _, from := range Statuses {
		for _, to := range Statuses {
			err := CheckTransition(from, to)
			if legal[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("%s -> %s refused: %v", from, to, err)
				}
				continue
			}
			var te *TransitionError
			if !errors.As(err, &te) || te.From != from || te.To != to || te.Reason == "" {
				t.Errorf("%s -> %s = %v, want a TransitionError with a reason", from, to, err)
			}
		}
	}
}

func TestTransitionsTheIssueNames(t *testing.T) {
	// Stopped never wakes; anything but Deleted can be stopped and deleted.
	if err := CheckTransition(Stopped, Initializing); err == nil {
		t.Error("a Stopped deployment was allowed to initialize")
	}
	for _, s := range Statuses {
		if s == Deleted || s == Stopped {
			continue
		}
		if CheckTransition(s, Stopped) != nil || CheckTransition(s, Deleted) != nil {
			t.Errorf("%s cannot be stopped or deleted", s)
		}
	}
	for _, s := range Statuses {
		if CheckTransition(Deleted, s) == nil {
			t.Errorf("Deleted -> %s allowed", s)
		}
	}
	if err := CheckTransition("Sleeping", Ready); err == nil {
		t.Error("an unknown status was accepted")
	}
	if err := CheckTransition(Ready, "Sleeping"); err == nil {
		t.Error("an unknown target status was accepted")
	}
}
