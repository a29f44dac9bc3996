package cuda

import "testing"

// TestCublasSymbols resolves every cuBLAS entry point from whatever libcublas
// this machine has (Debian's 11 when nvidia-cuda-toolkit is installed), which
// checks the v2 symbol names without a GPU.
func TestCublasSymbols(t *testing.T) {
	lib, name, err := loadLibrary(cublasCandidates())
	if err != nil {
		t.Skipf("no libcublas here: %v", err)
	}
	if _, err := resolve(lib, name, cublasSymbols); err != nil {
		t.Fatal(err)
	}
}

func TestMissingLibraryIsAnError(t *testing.T) {
	if _, _, err := loadLibrary([]string{"libgraft-does-not-exist.so.1"}); err == nil {
		t.Fatal("loading a missing library succeeded")
	}
}
