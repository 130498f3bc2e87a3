package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Host describes the machine a measurement ran on. Every report carries it:
// numbers from a nested, shared or noisy host mean something different from
// bare-metal ones.
type Host struct {
	Kernel   string   `json:"kernel"`
	CPU      string   `json:"cpu"`
	Cores    int      `json:"cores"`
	Virt     string   `json:"virtualization"` // "bare metal", "VM (KVM)", "nested: PVM (kvm_pvm)", ...
	KVM      string   `json:"kvm"`            // what /dev/kvm is: "absent", "VMX", "SVM", "PVM"
	Load1    float64  `json:"load1"`          // 1-minute load average when the run started
	Go       string   `json:"go"`
	Date     string   `json:"date"`
	Warnings []string `json:"warnings,omitempty"`
}

// DescribeHost reads the host facts.
func DescribeHost() Host {
	h := Host{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	h.Kernel = kernelRelease()
	flags := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, v, ok := strings.Cut(s.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				if h.CPU == "" {
					h.CPU = strings.TrimSpace(v)
				}
			case "flags":
				if flags == "" {
					flags = " " + strings.TrimSpace(v) + " "
				}
			}
		}
		f.Close()
	}
	hypervisor := strings.Contains(flags, " hypervisor ")
	_, pvm := os.Stat("/sys/module/kvm_pvm")
	_, kvmDev := os.Stat("/dev/kvm")
	switch {
	case kvmDev != nil:
		h.KVM = "absent"
	case pvm == nil:
		h.KVM = "PVM (kvm_pvm: shadow paging, no VMX/SVM)"
	case strings.Contains(flags, " vmx "):
		h.KVM = "VMX"
	case strings.Contains(flags, " svm "):
		h.KVM = "SVM"
	default:
		h.KVM = "present"
	}
	switch {
	case hypervisor && pvm == nil:
		h.Virt = "nested: this machine is a VM whose KVM is PVM"
	case hypervisor && kvmDev == nil:
		h.Virt = "nested: this machine is a VM running KVM"
	case hypervisor:
		h.Virt = "VM"
	default:
		h.Virt = "bare metal"
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &h.Load1)
	}
	if hypervisor {
		h.Warnings = append(h.Warnings, "nested or virtualised host: VM entries and exits cost several times more than on bare metal; compare ratios, not absolute numbers")
	}
	if h.Load1 > 0.5*float64(h.Cores) {
		h.Warnings = append(h.Warnings, fmt.Sprintf("the machine was busy when the run started (load %.2f on %d cores): expect noise", h.Load1, h.Cores))
	}
	if h.Cores < 4 {
		h.Warnings = append(h.Warnings, fmt.Sprintf("only %d cores: the measuring thread, the sandbox and the rest of the system share them", h.Cores))
	}
	return h
}

func (h Host) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "host: %s, %d cores, kernel %s, %s\n", h.CPU, h.Cores, h.Kernel, h.Go)
	fmt.Fprintf(&b, "virtualization: %s; /dev/kvm: %s; load %.2f; %s\n", h.Virt, h.KVM, h.Load1, h.Date)
	for _, w := range h.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}
