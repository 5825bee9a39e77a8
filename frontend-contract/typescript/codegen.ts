// graphql-codegen: typed documents (the client preset) from the contract. Regenerate with
// `npm run generate`; the output (src/gql/) is committed and CI fails when it differs.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["../operations/**/*.graphql"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: {
        // Results are plain object types: a frontend reads fields directly, no useFragment.
        fragmentMasking: false,
        gqlTagName: "graphql",
      },
      config: {
        // Documents as strings (TypedDocumentString): no GraphQL parser in the bundle.
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        skipTypename: false,
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
        // `.js` import suffixes, so the emitted ESM runs in Node as well as in bundlers.
        emitLegacyCommonJSImports: false,
        strictScalars: true,
        scalars: {
          DateTime: "string",
          JSON: "unknown",
        },
      },
    },
  },
};

export default config;
