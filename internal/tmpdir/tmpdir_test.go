package tmpdir

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for a process that makes a folder
// and is then killed: with GRAFT_TMPDIR_CHILD set it makes one there, prints
// its path and waits to be killed.
func TestMain(m *testing.M) {
	if parent := os.Getenv("GRAFT_TMPDIR_CHILD"); parent != "" {
		d, err := Make(parent, "graft-test-")
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		os.Stdout.WriteString(d.Path + "\n")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

// child starts a process that makes a folder in parent; it returns the
// process and the folder.
func child(t *testing.T, parent string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GRAFT_TMPDIR_CHILD="+parent)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child made no folder: %v", err)
	}
	return cmd, line[:len(line)-1]
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestMakeSweepsTheFoldersOfKilledProcesses(t *testing.T) {
	parent := t.TempDir()
	killed, orphan := child(t, parent)
	_, live := child(t, parent)
	// A folder of the same prefix without a lock file (an older graft's):
	// nobody can tell whether its owner lives, so it stays.
	foreign := filepath.Join(parent, "graft-test-foreign")
	if err := os.Mkdir(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed.Wait()
	if !exists(orphan) {
		t.Fatalf("the killed child's folder %s is already gone", orphan)
	}

	mine, err := Make(parent, "graft-test-")
	if err != nil {
		t.Fatal(err)
	}
	if exists(orphan) {
		t.Errorf("Make left the folder of a killed process: %s", orphan)
	}
	if !exists(live) {
		t.Errorf("Make removed the folder of a live process: %s", live)
	}
	if !exists(foreign) {
		t.Errorf("Make removed a folder without a lock file")
	}
	// This process's own folder is locked against its own sweeps too.
	if n := Sweep(parent, "graft-test-"); n != 0 || !exists(mine.Path) {
		t.Errorf("a sweep in the owning process removed %d folders (own folder there: %v)", n, exists(mine.Path))
	}
	if err := mine.Remove(); err != nil || exists(mine.Path) {
		t.Errorf("Remove: %v, folder there: %v", err, exists(mine.Path))
	}
}

func TestSweepKeepsOtherPrefixes(t *testing.T) {
	parent := t.TempDir()
	killed, orphan := child(t, parent)
	killed.Process.Kill()
	killed.Wait()
	if n := Sweep(parent, "graft-other-"); n != 0 || !exists(orphan) {
		t.Errorf("a sweep of another prefix removed %d folders", n)
	}
	if n := Sweep(parent, "graft-test-"); n != 1 || exists(orphan) {
		t.Errorf("a sweep of the prefix removed %d folders, orphan there: %v", n, exists(orphan))
	}
}

func TestMakeInTheSystemTemporaryFolder(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	d, err := Make("", "graft-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if filepath.Dir(d.Path) != os.Getenv("TMPDIR") {
		t.Errorf("made %s outside TMPDIR %s", d.Path, os.Getenv("TMPDIR"))
	}
	if fi, err := os.Stat(d.Path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("folder mode: %v %v", fi.Mode(), err)
	}
}
