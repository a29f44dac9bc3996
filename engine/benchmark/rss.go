package benchmark

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// peakRSS is the process's resident-set high-water mark (VmHWM) in bytes.
func peakRSS() (int64, error) { return statusBytes("VmHWM:") }

// fileRSS is the process's resident file pages (RssFile) in bytes: before a
// model is loaded, the executable's own mapped code and data.
func fileRSS() (int64, error) { return statusBytes("RssFile:") }

// statusBytes reads one "kB" field of /proc/self/status.
func statusBytes(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, rest, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// resetPeakRSS sets VmHWM back to the current RSS (Linux ≥ 4.0), so that the
// peak measured afterwards is the engine's and not the model writer's.
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
