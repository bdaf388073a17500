// Validates custom resources against their CRDs' own OpenAPI schemas, as the kubernetes-models packages ship
// them (generated from each project's CRDs, with a JSON Schema validator): KEDA's ScaledObject and
// TriggerAuthentication, the Prometheus Operator's ServiceMonitor and PrometheusRule, CloudNativePG's Cluster,
// Database and ScheduledBackup.
// Usage: node k8s_models_validate.mjs < resources.json (a JSON array of manifests); prints a JSON array with,
// per manifest, its kind, name, whether a model knew it, and the validation error if any.
import { readFileSync } from "node:fs";
import { Cluster, Database, ScheduledBackup } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";
import { PrometheusRule, ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const MODELS = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "keda.sh/v1alpha1/TriggerAuthentication": TriggerAuthentication,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "postgresql.cnpg.io/v1/Cluster": Cluster,
  "postgresql.cnpg.io/v1/Database": Database,
  "postgresql.cnpg.io/v1/ScheduledBackup": ScheduledBackup,
};

const report = JSON.parse(readFileSync(0, "utf8")).map((manifest) => {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
  const entry = { kind: manifest.kind, name: manifest.metadata?.name, known: Boolean(Model), error: null };
  if (Model) {
    try {
      new Model(manifest).validate();
    } catch (error) {
      entry.error = String(error.message ?? error);
    }
  }
  return entry;
});
process.stdout.write(JSON.stringify(report));
