import { describeSource } from '@ringmaster/core/testing';
import { makeRepo } from './helpers.js';

describeSource('git', {
  async create() {
    const repo = makeRepo();
    return {
      source: repo.source(),
      commit: async (files, message, author) => repo.commit(files, message, author),
      cleanup: async () => repo.cleanup(),
    };
  },
});
