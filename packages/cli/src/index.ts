/** Placeholder until the CLI lands: see bin.ts. */
export const CLI_NAME = 'ringmaster';
