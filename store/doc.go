// Package store is the persistence contract of OpenMGS: the record types
// (Device and what it holds), the Table interface a backend implements, and
// typed views over tables (Devices, Settings).
//
// Every value carries a revision. Writers read a value with its revision,
// compute the new value outside any transaction, then commit it with
// CompareAndSwap; on ErrConflict they read again and recompute. This maps
// onto bbolt (the default backend, store/boltstore) and onto an etcd Txn
// comparing ModRevision, so a distributed backend can implement Table
// without changing callers. store/storetest is the conformance suite.
package store
