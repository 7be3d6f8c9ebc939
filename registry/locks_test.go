package registry

import (
	"sync"
	"testing"
)

func TestKeyedMutexSerializesAndForgets(t *testing.T) {
	var k keyedMutex
	var wg sync.WaitGroup
	inside := map[string]int{}
	var mu sync.Mutex
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []string{"a:v1", "a@sha256:x"}[i%2]
			unlock := k.lock(key)
			mu.Lock()
			inside[key]++
			if inside[key] != 1 {
				t.Errorf("%d holders of %s at once", inside[key], key)
			}
			mu.Unlock()
			mu.Lock()
			inside[key]--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if len(k.locks) != 0 {
		t.Fatalf("%d keys kept after every holder left", len(k.locks))
	}
}
