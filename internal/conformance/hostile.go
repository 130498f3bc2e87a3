package conformance

import "tessera/loader"

// hostileCases lists every hostile function (guest/src/hostile*.c) with
// the outcome the guest ABI prescribes (docs/ABI.md §5). Backends that
// differ by design say so through Target.Override:
//
//   - hostile_int20 (Dandelion's KVM exit) succeeds only on KVM;
//     elsewhere int $0x20 faults.
//   - hostile_archprctl (TLS through arch_prctl) succeeds only on
//     ptraceiso; elsewhere it is a blocked system call.
func hostileCases() []hostileCase {
	stdio := []string{"stdio"}
	fault := func(name string) hostileCase {
		return hostileCase{name: name, want: loader.ErrFault, outputSets: stdio}
	}
	syscall := func(name string) hostileCase {
		return hostileCase{name: name, want: loader.ErrSyscall, outputSets: stdio}
	}
	forged := func(name string) hostileCase {
		return hostileCase{name: name, want: loader.ErrOutputDescriptor, outputSets: stdio}
	}
	return []hostileCase{
		syscall("hostile_syscall"),
		syscall("hostile_sysenter"),
		syscall("hostile_int80"),
		fault("hostile_null_write"),
		fault("hostile_far_write"),
		fault("hostile_code_write"),
		fault("hostile_exec_heap"),
		fault("hostile_exec_stack"),
		fault("hostile_exec_data"),
		{name: "hostile_exec_input", want: loader.ErrFault, outputSets: stdio,
			inputSets: []string{"in"},
			inputs:    []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "code", Data: []byte{0xc3}}}}}},
		fault("hostile_hlt"),
		fault("hostile_cli"),
		fault("hostile_in"),
		fault("hostile_out"),
		fault("hostile_cr3"),
		fault("hostile_ud2"),
		fault("hostile_int3"),
		fault("hostile_div0"),
		fault("hostile_stack_overflow"),
		{name: "hostile_loop", want: loader.ErrTimeout, outputSets: stdio, loop: true},
		forged("hostile_forge_bufs"),
		forged("hostile_forge_len"),
		forged("hostile_forge_ident"),
		forged("hostile_forge_count"),
		forged("hostile_forge_sets_len"),
		{name: "hostile_exit3", want: loader.ErrExitStatus, status: 3, outputSets: stdio,
			stdout: "partial output\n"},
		{name: "hostile_int20", want: loader.ErrFault, outputSets: stdio, stdout: "int20 exit\n"},
		{name: "hostile_archprctl", want: loader.ErrSyscall, outputSets: stdio, stdout: "fs ok\n"},
	}
}
