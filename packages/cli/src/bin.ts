console.log('ringmaster');
