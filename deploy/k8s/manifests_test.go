// Package k8s tests the Kubernetes manifests: the kustomization renders, every object decodes
// into its real API type (k8s.io/api; the prometheus-operator's Go types; KEDA's published CRD
// schema) with unknown fields refused, and what the objects say agrees with the worker's
// configuration and with each other. Tests only; it runs in `make test` (make manifests).
package k8s

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/profile-ingest/profile-ingest/config"
)

// kedaModule is the KEDA whose ScaledObject schema and Kafka scaler the manifests are checked
// against (go.mod pins the module; its zip carries config/crd and pkg/scalers).
const kedaModule = "github.com/kedacore/keda/v2"

// typed are the kinds the manifests may hold, each with its Go type.
var typed = map[string]func() any{
	"apps/v1/Deployment":            func() any { return new(appsv1.Deployment) },
	"v1/ConfigMap":                  func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                     func() any { return new(corev1.Secret) },
	"v1/Service":                    func() any { return new(corev1.Service) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

// strict decodes one YAML object into out as the API server does (sigs.k8s.io/json: field
// names case-sensitive), refusing a field the type does not have and a field given twice.
// encoding/json would not do: it matches "readOnlyRootFileSystem" to readOnlyRootFilesystem.
func strict(doc []byte, out any) error {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(js, out, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

type object struct {
	key string // apiVersion/kind
	doc []byte
	val any // the typed value; a map for ScaledObject
}

// render runs the kustomization in this directory, as `kubectl apply -k` would.
func render(t *testing.T, fs filesys.FileSystem) [][]byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, ".")
	if err != nil {
		t.Fatalf("kustomize: %v", err)
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		b, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}

// decodeAll decodes each document into its type; the error names the object and the field.
func decodeAll(docs [][]byte, schema map[string]any) ([]object, error) {
	var objs []object
	for _, doc := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct{ Name string }
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, err
		}
		key := head.APIVersion + "/" + head.Kind
		var val any
		if key == "keda.sh/v1alpha1/ScaledObject" {
			var m map[string]any
			if err := yaml.Unmarshal(doc, &m); err != nil {
				return nil, err
			}
			if err := checkSchema("", m, schema); err != nil {
				return nil, fmt.Errorf("%s %s: %w", key, head.Metadata.Name, err)
			}
			val = m
		} else {
			mk, ok := typed[key]
			if !ok {
				return nil, fmt.Errorf("%s %s: a kind this test does not know", key, head.Metadata.Name)
			}
			val = mk()
			if err := strict(doc, val); err != nil {
				return nil, fmt.Errorf("%s %s: %w", key, head.Metadata.Name, err)
			}
		}
		objs = append(objs, object{key, doc, val})
	}
	return objs, nil
}

// kedaDir is where the Go module cache holds the pinned KEDA module.
func kedaDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", kedaModule).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		if out, err = exec.Command("go", "mod", "download", "-json", kedaModule).Output(); err == nil {
			var d struct{ Dir string }
			_ = json.Unmarshal(out, &d)
			dir = d.Dir
		}
	}
	if dir == "" {
		t.Fatalf("the %s module is not in the module cache: %v", kedaModule, err)
	}
	return dir
}

// scaledObjectSchema is the openAPIV3Schema of KEDA's published ScaledObject CRD.
func scaledObjectSchema(t *testing.T) map[string]any {
	raw, err := os.ReadFile(filepath.Join(kedaDir(t), "config/crd/bases/keda.sh_scaledobjects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				}
			}
		}
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name == "v1alpha1" {
			return v.Schema.OpenAPIV3Schema
		}
	}
	t.Fatal("no v1alpha1 in KEDA's ScaledObject CRD")
	return nil
}

// checkSchema refuses what the API server's structural pruning would drop (a field the schema
// does not name) and a value of the wrong type. metadata is the API's, checked by name only.
func checkSchema(path string, v any, s map[string]any) error {
	switch typ, _ := s["type"].(string); {
	case typ == "object" || s["properties"] != nil:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", path, v)
		}
		props, _ := s["properties"].(map[string]any)
		extra, _ := s["additionalProperties"].(map[string]any)
		for k, sub := range m {
			p := strings.TrimPrefix(path+"."+k, ".")
			if ps, ok := props[k].(map[string]any); ok {
				if p == "metadata" {
					continue
				}
				if err := checkSchema(p, sub, ps); err != nil {
					return err
				}
			} else if extra != nil {
				if err := checkSchema(p, sub, extra); err != nil {
					return err
				}
			} else if s["x-kubernetes-preserve-unknown-fields"] != true {
				return fmt.Errorf("unknown field %q", p)
			}
		}
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: required field %q is missing", path, r)
			}
		}
	case typ == "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", path, v)
		}
		items, _ := s["items"].(map[string]any)
		for i, e := range a {
			if err := checkSchema(fmt.Sprintf("%s[%d]", path, i), e, items); err != nil {
				return err
			}
		}
	case typ == "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %v", path, v)
		}
	case typ == "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want an integer, got %v", path, v)
		}
	case typ == "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %v", path, v)
		}
	}
	return nil
}

// kafkaScalerKeys are the trigger metadata keys KEDA's Kafka scaler reads, from its source.
func kafkaScalerKeys(t *testing.T) []string {
	src, err := os.ReadFile(filepath.Join(kedaDir(t), "pkg/scalers/kafka_scaler.go"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range regexp.MustCompile(`TriggerMetadata\["(\w+)"\]|MetricName\s*=\s*"(\w+)"`).FindAllSubmatch(src, -1) {
		keys = append(keys, string(m[1])+string(m[2]))
	}
	if !slices.Contains(keys, "bootstrapServers") || !slices.Contains(keys, "lagThreshold") {
		t.Fatalf("found no Kafka trigger keys in KEDA's kafka_scaler.go (%v): has it moved?", keys)
	}
	return keys
}

// objects renders the kustomization and decodes it, plus secret.example.yaml, which is applied
// by hand.
func objects(t *testing.T) []object {
	t.Helper()
	docs := render(t, filesys.MakeFsOnDisk())
	secret, err := os.ReadFile("secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(append(docs, secret), scaledObjectSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find[T any](t *testing.T, objs []object) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.val.(T); ok {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T in the manifests", zero)
	return zero
}

// TestManifestsDecodeStrictly: every object of the kustomization is one of the expected kinds and
// decodes into its real type with no unknown field.
func TestManifestsDecodeStrictly(t *testing.T) {
	objs := objects(t)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.key)
	}
	slices.Sort(kinds)
	want := []string{"apps/v1/Deployment", "keda.sh/v1alpha1/ScaledObject", "monitoring.coreos.com/v1/ServiceMonitor",
		"policy/v1/PodDisruptionBudget", "v1/ConfigMap", "v1/Secret", "v1/Service"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

// TestTypoIsRefused proves the strictness: a misspelt field in each kind fails to decode, naming it.
func TestTypoIsRefused(t *testing.T) {
	docs := render(t, filesys.MakeFsOnDisk())
	schema := scaledObjectSchema(t)
	for _, tc := range []struct{ kind, field, typo string }{
		{"kind: Deployment", "readinessProbe:", "readinesProbe:"},
		{"kind: Deployment", "readOnlyRootFilesystem:", "readOnlyRootFileSystem:"},
		{"kind: Service", "targetPort:", "targetport:"},
		{"kind: PodDisruptionBudget", "maxUnavailable:", "maxUnavailible:"},
		{"kind: ServiceMonitor", "scrapeTimeout:", "scrapeTimout:"},
		{"kind: ScaledObject", "stabilizationWindowSeconds:", "stabilisationWindowSeconds:"},
		{"kind: ScaledObject", "maxReplicaCount:", "maxReplicas:"},
		{"kind: ConfigMap", "data:", "datas:"},
	} {
		t.Run(tc.typo, func(t *testing.T) {
			var changed [][]byte
			hit := false
			for _, d := range docs {
				if bytes.Contains(d, []byte(tc.kind+"\n")) && bytes.Contains(d, []byte(tc.field)) {
					d = bytes.Replace(d, []byte(tc.field), []byte(tc.typo), 1)
					hit = true
				}
				changed = append(changed, d)
			}
			if !hit {
				t.Fatalf("no %q in a %q object", tc.field, tc.kind)
			}
			_, err := decodeAll(changed, schema)
			if err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(tc.typo, ":")) {
				t.Errorf("decoding with %s: err = %v, want it refused naming the field", tc.typo, err)
			}
		})
	}
}

// TestManifestsAgree: the Deployment, its ConfigMap, the Service, the ServiceMonitor, the PDB and
// the ScaledObject say consistent things, and the ConfigMap is a configuration the worker accepts.
func TestManifestsAgree(t *testing.T) {
	objs := objects(t)
	dep := find[*appsv1.Deployment](t, objs)
	cm := find[*corev1.ConfigMap](t, objs)
	svc := find[*corev1.Service](t, objs)
	sm := find[*monitoringv1.ServiceMonitor](t, objs)
	pdb := find[*policyv1.PodDisruptionBudget](t, objs)
	secret := find[*corev1.Secret](t, objs)
	so := find[map[string]any](t, objs)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]

	// The ConfigMap is the worker's config, valid as the worker validates it.
	raw, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no config.yaml", cm.Name)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SUPRSEND_WORKSPACE_SECRET", "test") // the Secret's file, in the pod
	secretFile := cfg.SuprSend.SecretFile
	cfg.SuprSend.SecretFile = ""
	if err := cfg.ReadSecrets(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}
	if strings.HasPrefix(cfg.Observability.Listen, "127.") || strings.HasPrefix(cfg.Observability.Listen, "localhost") {
		t.Errorf("observability.listen %q: kubelet probes and Prometheus cannot reach a loopback address", cfg.Observability.Listen)
	}
	_, port, _ := strings.Cut(cfg.Observability.Listen, ":")
	if got := strconv.Itoa(int(c.Ports[0].ContainerPort)); got != port || c.Ports[0].Name != "metrics" {
		t.Errorf("containerPort %s named %q, want %s (observability.listen) named metrics", got, c.Ports[0].Name, port)
	}

	// Mounts: the config where PROFILE_INGEST_CONFIG points, the secret files where the config reads them.
	mountOf := func(volume string) string {
		for _, m := range c.VolumeMounts {
			if m.Name == volume {
				if !m.ReadOnly {
					t.Errorf("volume %s is mounted writable", volume)
				}
				return m.MountPath
			}
		}
		t.Fatalf("volume %s is not mounted", volume)
		return ""
	}
	var envConfig string
	for _, e := range c.Env {
		if e.Name == "PROFILE_INGEST_CONFIG" {
			envConfig = e.Value
		}
	}
	if want := mountOf("config") + "/config.yaml"; envConfig != want {
		t.Errorf("PROFILE_INGEST_CONFIG=%q, want %q", envConfig, want)
	}
	for _, v := range pod.Volumes {
		switch v.Name {
		case "config":
			if v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
				t.Errorf("volume config is not the generated ConfigMap %s", cm.Name)
			}
		case "secrets":
			if v.Secret == nil || v.Secret.SecretName != secret.Name {
				t.Errorf("volume secrets is not the Secret %s", secret.Name)
			}
			dir, file := filepath.Split(secretFile)
			if filepath.Clean(dir) != mountOf("secrets") {
				t.Errorf("suprsend.workspace_secret_file %s is not under the secret's mount %s", secretFile, mountOf("secrets"))
			}
			if _, ok := secret.StringData[file]; !ok {
				t.Errorf("the Secret has no key %q (suprsend.workspace_secret_file)", file)
			}
		}
	}
	for _, e := range c.Env {
		if strings.Contains(e.Name, "SECRET") || strings.Contains(e.Name, "PASSWORD") {
			t.Errorf("env %s: secrets come from files, not the environment", e.Name)
		}
	}

	// Shutdown: the grace period is above drain_timeout with a margin for the commit and leaving the group.
	const margin = 15 * time.Second
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if drain := cfg.Consumer.DrainTimeout.D(); grace < drain+margin {
		t.Errorf("terminationGracePeriodSeconds %v: want at least drain_timeout %v + %v", grace, drain, margin)
	}

	// Probes, resources, security.
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "metrics" {
		t.Errorf("livenessProbe %+v, want GET /healthz on port metrics", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "metrics" {
		t.Errorf("readinessProbe %+v, want GET /readyz on port metrics", p)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	sc, psc := c.SecurityContext, pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
		*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, capabilities ALL dropped", sc)
	}

	// Replicas and autoscaling never exceed the partitions.
	partitions, err := strconv.Atoi(dep.Annotations["profile-ingest.io/partitions"])
	if err != nil || partitions < 1 {
		t.Fatalf("Deployment annotation profile-ingest.io/partitions %q: want the topic's partition count", dep.Annotations["profile-ingest.io/partitions"])
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas > int32(partitions) {
		t.Errorf("replicas %v above the %d partitions", dep.Spec.Replicas, partitions)
	}
	spec := so["spec"].(map[string]any)
	if maxR := spec["maxReplicaCount"].(float64); maxR > float64(partitions) || maxR < 1 {
		t.Errorf("ScaledObject maxReplicaCount %v: want 1..%d (the partitions)", maxR, partitions)
	}
	if ref := spec["scaleTargetRef"].(map[string]any); ref["name"] != dep.Name {
		t.Errorf("ScaledObject scales %v, want the Deployment %s", ref["name"], dep.Name)
	}
	behavior := spec["advanced"].(map[string]any)["horizontalPodAutoscalerConfig"].(map[string]any)["behavior"].(map[string]any)
	for dir, min := range map[string]float64{"scaleUp": 60, "scaleDown": 300} {
		if w := behavior[dir].(map[string]any)["stabilizationWindowSeconds"].(float64); w < min {
			t.Errorf("%s stabilizationWindowSeconds %v: each scale step pauses the whole group; want at least %v", dir, w, min)
		}
	}
	keys := kafkaScalerKeys(t)
	triggers := spec["triggers"].([]any)
	if len(triggers) != 1 {
		t.Fatalf("want one trigger, got %d", len(triggers))
	}
	trig := triggers[0].(map[string]any)
	md := trig["metadata"].(map[string]any)
	for k := range md {
		if !slices.Contains(keys, k) {
			t.Errorf("kafka trigger metadata %q: KEDA's Kafka scaler reads no such key (it reads %v)", k, keys)
		}
	}
	if trig["type"] != "kafka" || md["consumerGroup"] != cfg.Kafka.GroupID || md["topic"] != cfg.Kafka.Topics[0] ||
		md["bootstrapServers"] != strings.Join(cfg.Kafka.Brokers, ",") || md["allowIdleConsumers"] != "false" {
		t.Errorf("kafka trigger %v: want the config's group %s, topic %s and brokers %v, and no idle consumers",
			md, cfg.Kafka.GroupID, cfg.Kafka.Topics[0], cfg.Kafka.Brokers)
	}

	// Selectors: the Service, the ServiceMonitor and the PDB pick exactly the Deployment's pods.
	podLabels := labels.Set(dep.Spec.Template.Labels)
	if !labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Error("the Deployment's selector does not match its pods")
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("Service selector %v does not match the pods %v", svc.Spec.Selector, podLabels)
	}
	if pdb.Spec.Selector == nil || !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(podLabels) {
		t.Errorf("PDB selector %v does not match the pods %v", pdb.Spec.Selector, podLabels)
	}
	if !labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the Service's labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("ServiceMonitor port %q, Service port %q -> %s: want both on the pod's metrics port",
			sm.Spec.Endpoints[0].Port, svc.Spec.Ports[0].Name, svc.Spec.Ports[0].TargetPort.String())
	}
}
