//! Schema transforms of the CRDs' fields that hold embedded Kubernetes types ([`upstream_type`],
//! with the admission rules [`constrain`] adds) or label maps ([`label_map`]), and the patterns
//! and CEL rule they use.

/// Schema transform for fields holding embedded Kubernetes types (Affinity, Tolerations,
/// ResourceRequirements, HPA metrics and behavior, ...): the field keeps its own description,
/// the type's nested field descriptions are dropped. They are Kubernetes' own, documented by
/// `kubectl explain pod.spec.affinity` and the like, and repeating them in every component made
/// the PrismStack CRD larger than the 256 KiB that `kubectl apply` can keep in its
/// last-applied annotation.
///
/// It also adds what the API server checks of these types only when it validates the child they
/// end up in (see [`constrain`]), so that a bad value is refused at admission, naming the field,
/// instead of failing the child later.
pub fn upstream_type(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        for (key, value) in object.iter_mut() {
            if key != "description" {
                strip_descriptions(value, key == "properties");
            }
        }
    }
    if let Some(object) = schema.as_object_mut() {
        constrain(object, &mut Vec::new());
    }
}

/// The embedded types' own rules that their OpenAPI schemas leave out, by the type's shape and
/// the path to it (property names, `[]` for items):
///
/// - Toleration: `effect` is `NoSchedule`, `PreferNoSchedule`, `NoExecute` or empty; `operator`
///   `Exists`, `Equal` or empty.
/// - TopologySpreadConstraint: `maxSkew` and `minDomains` at least 1; `whenUnsatisfiable`
///   `DoNotSchedule` or `ScheduleAnyway`; `nodeAffinityPolicy`/`nodeTaintsPolicy` `Honor` or
///   `Ignore`; a non-empty `topologyKey`.
/// - Selector requirements: `operator` `In`, `NotIn`, `Exists`, `DoesNotExist`, and for node
///   selectors (under `nodeSelectorTerms` or `preference`) also `Gt`, `Lt`.
/// - Weighted affinity terms: `weight` from 1 to 100; pod affinity terms: a non-empty
///   `topologyKey`.
/// - HPA metrics: `type` one of the metric source kinds; targets: `type` `Utilization`, `Value`
///   or `AverageValue` and `averageUtilization` at least 1; scaling rules: `selectPolicy` `Max`,
///   `Min` or `Disabled` and `stabilizationWindowSeconds` from 0 to 3600; scaling policies: `type`
///   `Pods` or `Percent`, `value` at least 1, `periodSeconds` from 1 to 1800.
/// - Quantities (resource requests and limits, metric targets, scaling tolerances): Kubernetes'
///   quantity syntax ([`QUANTITY_PATTERN`]), e.g. `500m`, `1Gi`, `0.1`.
/// - Label values (`matchLabels`, `nodeSelector`): at most 63 characters of `[A-Za-z0-9-_.]`,
///   beginning and ending with a letter or digit ([`LABEL_VALUE_PATTERN`]).
pub fn constrain(map: &mut serde_json::Map<String, serde_json::Value>, path: &mut Vec<String>) {
    use serde_json::{Value, json};
    fn set(props: &mut serde_json::Map<String, Value>, field: &str, rule: Value) {
        if let (Some(Value::Object(schema)), Value::Object(rule)) = (props.get_mut(field), rule) {
            schema.extend(rule);
        }
    }
    let named = |i: usize| path.iter().rev().nth(i).map(String::as_str);
    if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) && named(1) != Some("config") {
        map.insert("pattern".into(), json!(QUANTITY_PATTERN));
    }
    if named(0) == Some("[]") && matches!(named(1), Some("matchLabels" | "nodeSelector")) {
        map.insert("maxLength".into(), json!(63));
        map.insert("pattern".into(), json!(LABEL_VALUE_PATTERN));
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        let has = |props: &serde_json::Map<String, Value>, names: &[&str]| names.iter().all(|n| props.contains_key(*n));
        if has(props, &["effect", "operator", "tolerationSeconds"]) {
            set(props, "effect", json!({"enum": ["", "NoSchedule", "PreferNoSchedule", "NoExecute"]}));
            set(props, "operator", json!({"enum": ["", "Exists", "Equal"]}));
        }
        let spread = has(props, &["maxSkew", "topologyKey", "whenUnsatisfiable"]);
        if spread {
            set(props, "maxSkew", json!({"minimum": 1}));
            set(props, "minDomains", json!({"minimum": 1}));
            set(props, "whenUnsatisfiable", json!({"enum": ["DoNotSchedule", "ScheduleAnyway"]}));
            set(props, "nodeAffinityPolicy", json!({"enum": ["Honor", "Ignore"]}));
            set(props, "nodeTaintsPolicy", json!({"enum": ["Honor", "Ignore"]}));
            set(props, "topologyKey", json!({"minLength": 1}));
        }
        if has(props, &["key", "operator", "values"]) {
            let node = path.iter().any(|p| p == "nodeSelectorTerms" || p == "preference");
            let operators: &[&str] = if node {
                &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
            } else {
                &["In", "NotIn", "Exists", "DoesNotExist"]
            };
            set(props, "operator", json!({"enum": operators}));
        }
        if has(props, &["weight"]) && (props.contains_key("podAffinityTerm") || props.contains_key("preference")) {
            set(props, "weight", json!({"minimum": 1, "maximum": 100}));
        }
        if has(props, &["topologyKey", "labelSelector"]) && !spread {
            set(props, "topologyKey", json!({"minLength": 1}));
        }
        if has(props, &["type", "resource", "pods", "object", "external"]) {
            let kinds = ["ContainerResource", "External", "Object", "Pods", "Resource"];
            set(props, "type", json!({"enum": kinds}));
        }
        if has(props, &["type", "averageUtilization", "averageValue", "value"]) {
            set(props, "type", json!({"enum": ["Utilization", "Value", "AverageValue"]}));
            set(props, "averageUtilization", json!({"minimum": 1}));
        }
        if has(props, &["policies", "selectPolicy", "stabilizationWindowSeconds"]) {
            set(props, "selectPolicy", json!({"enum": ["Max", "Min", "Disabled"]}));
            set(props, "stabilizationWindowSeconds", json!({"minimum": 0, "maximum": 3600}));
        }
        if has(props, &["type", "value", "periodSeconds"]) && !props.contains_key("averageValue") {
            set(props, "type", json!({"enum": ["Pods", "Percent"]}));
            set(props, "value", json!({"minimum": 1}));
            set(props, "periodSeconds", json!({"minimum": 1, "maximum": 1800}));
        }
        for (name, child) in props.iter_mut() {
            if let Value::Object(child) = child {
                path.push(name.clone());
                constrain(child, path);
                path.pop();
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(Value::Object(child)) = map.get_mut(key) {
            path.push("[]".to_owned());
            constrain(child, path);
            path.pop();
        }
    }
}

/// Schema transform for a map of labels (`nodeSelector`): keys must be label keys and values
/// label values ([`LABEL_KEYS_RULE`], [`LABEL_VALUE_PATTERN`]), as the API server requires of the
/// pod the map ends up in.
pub fn label_map(schema: &mut schemars::Schema) {
    use serde_json::json;
    if let Some(object) = schema.as_object_mut() {
        if let Some(serde_json::Value::Object(values)) = object.get_mut("additionalProperties") {
            values.insert("maxLength".into(), json!(63));
            values.insert("pattern".into(), json!(LABEL_VALUE_PATTERN));
        }
        object.insert("maxProperties".into(), json!(64));
        object.insert(
            "x-kubernetes-validations".into(),
            json!([{"rule": LABEL_KEYS_RULE, "message": LABEL_KEYS_MESSAGE}]),
        );
    }
}

/// CEL: every key is a label key: an optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 characters of `[A-Za-z0-9-_.]` beginning and ending with a letter or digit.
pub const LABEL_KEYS_RULE: &str = "self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))";
/// Message of [`LABEL_KEYS_RULE`].
pub const LABEL_KEYS_MESSAGE: &str = "keys must be label keys: an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', beginning and ending with a letter or digit (e.g. kubernetes.io/arch, node-pool)";

/// Kubernetes' quantity syntax (`resource.Quantity`): a signed decimal number with an optional
/// binary (`Ki`..`Ei`), decimal (`m`, `k`..`E`) or exponent suffix.
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// A label value: empty, or up to 63 characters of `[A-Za-z0-9-_.]` beginning and ending with
/// a letter or digit.
pub const LABEL_VALUE_PATTERN: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

/// Removes every `description` below `value`; `names` says `value` maps property names to
/// schemas (where a key called `description` is a property, not a description).
fn strip_descriptions(value: &mut serde_json::Value, names: bool) {
    match value {
        serde_json::Value::Object(map) => {
            if !names {
                map.remove("description");
            }
            for (key, child) in map.iter_mut() {
                strip_descriptions(child, !names && key == "properties");
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_descriptions(v, false)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_kubernetes_types_keep_only_their_own_description() {
        let crd =
            serde_json::to_value(<crate::v1alpha1::PrismPattern as kube::CustomResourceExt>::crd()).expect("json");
        let placement =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["placement"];
        let affinity = &placement["properties"]["affinity"];
        assert!(affinity["description"].as_str().is_some_and(|d| !d.is_empty()), "our description stays");
        assert!(affinity["properties"]["nodeAffinity"].get("description").is_none(), "upstream ones go");
        assert!(placement["properties"]["strategy"]["description"].is_string(), "our own fields keep theirs");
    }

    /// Every embedded Kubernetes type (by its shape) in the four CRDs: how often it occurs and the
    /// admission rules each occurrence carries (and every port field: 1 to 65535). A new field holding such a type changes a count
    /// here: check its rules, then update the table. Not in the table because no CRD embeds them:
    /// probes, containers, ports and environment variables (the operator builds those itself).
    /// Label keys inside label selectors are left to the API server (a CEL rule on every one of
    /// them exceeds the CRD's rule cost budget): a bad one becomes the owner's ChildRejected
    /// condition, naming the field.
    const SURVEY: &[(&str, &str, usize)] = &[
        ("PrismPattern", "HPAMetric", 1),
        ("PrismPattern", "HPAMetricTarget", 5),
        ("PrismPattern", "HPAScalingPolicy", 2),
        ("PrismPattern", "HPAScalingRules", 2),
        ("PrismPattern", "LabelKeys", 1),
        ("PrismPattern", "LabelSelectorRequirement", 12),
        ("PrismPattern", "LabelValue", 13),
        ("PrismPattern", "NodeSelectorRequirement", 4),
        ("PrismPattern", "PodAffinityTerm", 4),
        ("PrismPattern", "Port", 2),
        ("PrismPattern", "Quantity", 16),
        ("PrismPattern", "Toleration", 1),
        ("PrismPattern", "TopologySpreadConstraint", 1),
        ("PrismPattern", "WeightedTerm", 3),
        ("PrismStack", "HPAMetric", 2),
        ("PrismStack", "HPAMetricTarget", 10),
        ("PrismStack", "HPAScalingPolicy", 4),
        ("PrismStack", "HPAScalingRules", 4),
        ("PrismStack", "LabelKeys", 3),
        ("PrismStack", "LabelSelectorRequirement", 41),
        ("PrismStack", "LabelValue", 44),
        ("PrismStack", "NodeSelectorRequirement", 16),
        ("PrismStack", "PodAffinityTerm", 16),
        ("PrismStack", "Port", 5),
        ("PrismStack", "Quantity", 34),
        ("PrismStack", "Toleration", 3),
        ("PrismStack", "TopologySpreadConstraint", 3),
        ("PrismStack", "WeightedTerm", 12),
    ];

    /// The shapes `schema` (at `path`) has, each with whether it carries its rules.
    fn shapes(schema: &serde_json::Value, path: &[String]) -> Vec<(&'static str, bool)> {
        let p = &schema["properties"];
        let has = |names: &[&str]| names.iter().all(|n| !p[*n].is_null());
        let enum_of = |field: &str| p[field]["enum"].as_array().map(|e| e.len()).unwrap_or_default();
        let named = |i: usize| path.iter().rev().nth(i).map(String::as_str);
        // Bounds read back as floats from the generated schema.
        let bound = |field: &str, key: &str, value: f64| p[field][key].as_f64() == Some(value);
        let mut out = Vec::new();
        if has(&["effect", "operator", "tolerationSeconds"]) {
            out.push(("Toleration", enum_of("effect") == 4 && enum_of("operator") == 3));
        }
        let spread = has(&["maxSkew", "topologyKey", "whenUnsatisfiable"]);
        if spread {
            let ok = bound("maxSkew", "minimum", 1.0)
                && bound("minDomains", "minimum", 1.0)
                && enum_of("whenUnsatisfiable") == 2
                && enum_of("nodeAffinityPolicy") == 2
                && enum_of("nodeTaintsPolicy") == 2
                && p["topologyKey"]["minLength"].as_u64() == Some(1);
            out.push(("TopologySpreadConstraint", ok));
        }
        if has(&["key", "operator", "values"]) {
            if path.iter().any(|s| s == "nodeSelectorTerms" || s == "preference") {
                out.push(("NodeSelectorRequirement", enum_of("operator") == 6));
            } else {
                out.push(("LabelSelectorRequirement", enum_of("operator") == 4));
            }
        }
        if has(&["weight"]) && (has(&["podAffinityTerm"]) || has(&["preference"])) {
            out.push(("WeightedTerm", bound("weight", "minimum", 1.0) && bound("weight", "maximum", 100.0)));
        }
        if has(&["topologyKey", "labelSelector"]) && !spread {
            out.push(("PodAffinityTerm", p["topologyKey"]["minLength"].as_u64() == Some(1)));
        }
        if has(&["type", "resource", "pods", "object", "external"]) {
            out.push(("HPAMetric", enum_of("type") == 5));
        }
        if has(&["type", "averageUtilization", "averageValue", "value"]) {
            out.push(("HPAMetricTarget", enum_of("type") == 3 && bound("averageUtilization", "minimum", 1.0)));
        }
        if has(&["policies", "selectPolicy", "stabilizationWindowSeconds"]) {
            out.push((
                "HPAScalingRules",
                enum_of("selectPolicy") == 3 && bound("stabilizationWindowSeconds", "maximum", 3600.0),
            ));
        }
        if has(&["type", "value", "periodSeconds"]) && !has(&["averageValue"]) {
            let ok =
                enum_of("type") == 2 && bound("value", "minimum", 1.0) && bound("periodSeconds", "maximum", 1800.0);
            out.push(("HPAScalingPolicy", ok));
        }
        if schema["x-kubernetes-int-or-string"] == true && named(1) != Some("config") {
            out.push(("Quantity", schema["pattern"] == super::QUANTITY_PATTERN));
        }
        if named(0) == Some("[]") && matches!(named(1), Some("matchLabels" | "nodeSelector")) {
            out.push(("LabelValue", schema["pattern"] == super::LABEL_VALUE_PATTERN && schema["maxLength"] == 63));
        }
        if named(0) == Some("nodeSelector") {
            let rules = schema["x-kubernetes-validations"].as_array().cloned().unwrap_or_default();
            out.push(("LabelKeys", rules.iter().any(|r| r["rule"] == super::LABEL_KEYS_RULE)));
        }
        if schema["type"] == "integer" && named(0).is_some_and(|n| n == "port" || n.ends_with("Port")) {
            let bound = |k: &str| schema[k].as_f64();
            out.push(("Port", bound("minimum") == Some(1.0) && bound("maximum") == Some(65535.0)));
        }
        for unexpected in [
            &["periodSeconds", "failureThreshold"][..],
            &["containerPort"],
            &["name", "value", "valueFrom"],
            &["image", "command", "args"],
        ] {
            if has(unexpected) {
                out.push(("UnsurveyedType", false));
            }
        }
        out
    }

    fn survey(
        schema: &serde_json::Value,
        path: &mut Vec<String>,
        kind: &str,
        counts: &mut std::collections::BTreeMap<(String, String), usize>,
        missing: &mut Vec<String>,
    ) {
        for (shape, ok) in shapes(schema, path) {
            *counts.entry((kind.to_owned(), shape.to_owned())).or_default() += 1;
            if !ok {
                missing.push(format!("{kind} {} ({shape})", path.join(".")));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (name, child) in props {
                path.push(name.clone());
                survey(child, path, kind, counts, missing);
                path.pop();
            }
        }
        for key in ["items", "additionalProperties"] {
            if schema[key].is_object() {
                path.push("[]".to_owned());
                survey(&schema[key], path, kind, counts, missing);
                path.pop();
            }
        }
    }

    #[test]
    fn every_embedded_type_carries_its_admission_rules() {
        let mut counts = std::collections::BTreeMap::new();
        let mut missing = Vec::new();
        for crd in crate::crds() {
            let kind = crd.spec.names.kind.clone();
            let crd = serde_json::to_value(&crd).expect("json");
            let root = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            survey(root, &mut Vec::new(), &kind, &mut counts, &mut missing);
        }
        assert!(missing.is_empty(), "embedded types without their rules:\n{}", missing.join("\n"));
        let found: Vec<(String, String, usize)> = counts.into_iter().map(|((k, s), n)| (k, s, n)).collect();
        let table: Vec<(String, String, usize)> =
            SURVEY.iter().map(|(k, s, n)| ((*k).to_owned(), (*s).to_owned(), *n)).collect();
        let listing: Vec<String> = found.iter().map(|(k, s, n)| format!("(\"{k}\", \"{s}\", {n}),")).collect();
        assert_eq!(found, table, "the embedded types changed; the survey now reads:\n{}", listing.join("\n"));
    }
}
