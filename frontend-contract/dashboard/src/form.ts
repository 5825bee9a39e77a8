// A task's form (its field definitions, from the TaskDetail operation) turned into the
// variables of completeTask: each input's text converted to the field's type, with the
// problems found before sending (the server checks again and answers with paths).

export interface FormFieldDef {
  id: string;
  label: string;
  type: string;
  required: boolean;
  values: string[];
  description: string;
}

export type FormValues = Record<string, string | boolean>;

export interface FormResult {
  variables: Record<string, unknown>;
  problems: Record<string, string>;
}

export function initialValues(fields: FormFieldDef[]): FormValues {
  const values: FormValues = {};
  for (const field of fields) values[field.id] = field.type === "boolean" ? false : "";
  return values;
}

function convert(field: FormFieldDef, raw: string): unknown {
  switch (field.type) {
    case "number": {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error("a number is expected");
      return n;
    }
    case "integer": {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new Error("a whole number is expected");
      return n;
    }
    case "object":
    case "array": {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new Error(`JSON is expected (an ${field.type})`);
      }
      const isArray = Array.isArray(parsed);
      const ok = field.type === "array" ? isArray : !isArray && typeof parsed === "object" && parsed !== null;
      if (!ok) throw new Error(`JSON is expected (an ${field.type})`);
      return parsed;
    }
    case "enum":
      if (field.values.length && !field.values.includes(raw)) throw new Error("not one of the choices");
      return raw;
    case "datetime": {
      const date = new Date(raw);
      if (Number.isNaN(date.getTime())) throw new Error("a date and time is expected");
      return date.toISOString();
    }
    default: // string, date (the input gives YYYY-MM-DD)
      return raw;
  }
}

export function collect(fields: FormFieldDef[], values: FormValues): FormResult {
  const variables: Record<string, unknown> = {};
  const problems: Record<string, string> = {};
  for (const field of fields) {
    const value = values[field.id];
    if (field.type === "boolean") {
      variables[field.id] = value === true;
      continue;
    }
    const raw = typeof value === "string" ? value.trim() : "";
    if (raw === "") {
      if (field.required) problems[field.id] = "required";
      continue;
    }
    try {
      variables[field.id] = convert(field, raw);
    } catch (error) {
      problems[field.id] = (error as Error).message;
    }
  }
  return { variables, problems };
}

/** The field a server problem's path names ($.approved, $.variables.approved, approved). */
export function fieldOfPath(path: string, fields: FormFieldDef[]): string | null {
  const parts = path.replace(/\[(\d+)\]/g, ".$1").split(".").filter((p) => p && p !== "$");
  for (const part of parts.reverse()) if (fields.some((f) => f.id === part)) return part;
  return null;
}
