package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mgs.db")
	db, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eui := lora.MustParseEUI64("0102030405060708")
	if err := store.NewDevices(db).Commit(ctx, storetest.SampleDevice(eui)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := store.NewDevices(db).Get(ctx, eui)
	if err != nil || d.UplinkCount != 7 {
		t.Fatalf("after reopen: %+v, %v", d, err)
	}
}

func BenchmarkCommitParallel(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("fsync=%v", durable), func(b *testing.B) {
			db, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), &boltstore.Options{NoSync: !durable})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			devs := store.NewDevices(db)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16)
			var mu sync.Mutex
			next := uint64(0)
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				next++
				eui := lora.EUI64FromUint64(next)
				mu.Unlock()
				d := storetest.SampleDevice(eui)
				for pb.Next() {
					if err := devs.Commit(ctx, d); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
