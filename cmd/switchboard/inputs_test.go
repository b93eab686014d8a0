package main

import "testing"

func TestMasterRefusesStdinTwice(t *testing.T) {
	code, stderr := runPeer(peerArgs(t, "master", "--video", "-", "--audio", "-"))
	want := "switchboard master: --video and --audio cannot both read stdin (-); give one of them a FIFO (see mkfifo)\n"
	if code != exitUsage || stderr != want {
		t.Fatalf("exit %d, stderr %q; want exit %d, %q", code, stderr, exitUsage, want)
	}
}
